import { describe, expect, it } from 'vitest';
import { natLabPlan } from '../../src/commands/dryRun.js';
import { parsePrefix } from '../../src/host/subnets.js';
import type { MasqueradeMode } from '../../src/types.js';

describe('--dry-run plan of a NAT lab', () => {
  const picks: [ReturnType<typeof parsePrefix>, ReturnType<typeof parsePrefix>] = [parsePrefix('10.213.4.0/24'), parsePrefix('10.213.5.0/24')];
  it('netns: the namespaces, the links inside the router, and one MASQUERADE rule per mode with its flag', () => {
    const lines = natLabPlan('abc123', 'netns', 3, [40000, 40199], ['none', 'random-fully'], picks, (m, rule) => rule(m as MasqueradeMode));
    expect(lines).toContain('namespaces: repro-abc123-rtr, repro-abc123-c0, repro-abc123-c1, repro-abc123-c2, repro-abc123-srv');
    expect(lines.find((l) => l.startsWith('links'))).toMatch(/^links \(inside repro-abc123-rtr; none in the host's namespace\): rpabc123-br \(bridge, 10\.213\.4\.1\), rpabc123-sv, rpabc123-c0, rpabc123-c1, rpabc123-c2;/);
    expect(lines).toContain('  none: -A REPRO-NAT-abc123 -s 10.213.4.0/24 ! -o rpabc123-br -j MASQUERADE');
    expect(lines).toContain('  random-fully: -A REPRO-NAT-abc123 -s 10.213.4.0/24 ! -o rpabc123-br -j MASQUERADE --random-fully');
    expect(lines).toContain('  -I FORWARD 1 -m comment --comment repro:abc123 -j REPRO-FWD-abc123');
  });
  it("docker: networks with their bridges, containers with their addresses, the forward hook in DOCKER-USER", () => {
    const lines = natLabPlan('abc123', 'docker', 2, [40000, 40199], ['none'], picks, (m, rule) => rule(m as MasqueradeMode));
    expect(lines.find((l) => l.startsWith('docker networks'))).toContain('repro-abc123-clients (10.213.4.0/24, bridge rpabc123-cbr');
    expect(lines).toContain('containers: repro-abc123-c0 10.213.4.10, repro-abc123-c1 10.213.4.11, repro-abc123-srv 10.213.5.2');
    expect(lines).toContain('  -I DOCKER-USER 1 -m comment --comment repro:abc123 -j REPRO-FWD-abc123');
  });
});
