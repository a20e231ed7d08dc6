import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import type { ModeResult, ResultFile } from '../../src/types.js';

const base = capabilityGate();
const gate = base.skip ? base : dockerGate();

describe.skipIf(gate.skip)(`repro dns on the docker backend (real dockerd)${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it("all three clients in containers: glibc reads the container's resolv.conf the harness wrote (use-vc goes over TCP), raw through the VIP, burst", async () => {
    const before = hostSnapshot();
    // One directory for the three runs: each replaces the last (--force).
    const out = mkdtempSync(path.join(tmpdir(), 'repro-dns-docker-'));
    const run = async (args: string[]): Promise<ResultFile> => {
      const r = await runCli(['dns', '--backend', 'docker', '--json', '--out', out, '--force', '--clients', '2', '--duration', '20', ...args]);
      expect(r.code, r.stderr.slice(-600)).toBe(0);
      return JSON.parse(r.stdout) as ResultFile;
    };
    const libc = await run(['--client', 'libc', '--modes', 'none,use-vc', '--queries', '300', '--backends', '2']);
    expect(libc.environment.backend).toBe('docker');
    const [none, vc] = libc.modes as [ModeResult, ModeResult];
    for (const m of [none, vc]) {
      expect(m.attempts).toBe(300);
      expect(m.succeeded + m.failed).toBe(m.attempts);
      const a = m.attribution;
      expect(a.conntrackRace + a.serverOverload + a.unexplained).toBe(a.lostSyns);
    }
    // Every lookup was answered by the harness's own server: the container's resolver used the written file.
    expect(none.failed).toBe(0);
    expect(none.counters.server['UdpInDatagrams']).toBeGreaterThanOrEqual(2 * none.succeeded);
    expect(vc.counters.server['TcpPassiveOpens']).toBeGreaterThanOrEqual(vc.succeeded);

    const raw = await run(['--client', 'raw', '--modes', 'none', '--queries', '600']);
    const [m] = raw.modes as [ModeResult];
    expect(m.attempts).toBe(600);
    expect(m.succeeded + m.failed).toBe(m.attempts);
    expect(m.rule).toContain('DNAT');
    expect(m.counters.server['UdpInDatagrams']).toBe(m.counters.clients['UdpOutDatagrams']);

    const burst = await run(['--client', 'burst', '--modes', 'none,random-fully', '--queries', '600']);
    for (const b of burst.modes) {
      expect(b.attempts).toBe(600);
      expect(b.succeeded + b.failed).toBe(b.attempts);
      expect(b.counters.conntrack).toHaveProperty('insert_failed');
    }

    rmSync(out, { recursive: true, force: true });
    expect(hostSnapshot()).toEqual(before);
  }, 240_000);
});
