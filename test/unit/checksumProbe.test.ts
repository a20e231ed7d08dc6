import { describe, expect, it } from 'vitest';
import { describeProbe, PROBE_TABLE, probeRuleset } from '../../src/scenarios/vxlan/checksumProbe.js';

describe('checksum probe', () => {
  it('breaks the UDP checksum of the probe port only, after every other postrouting hook, in a table of its own', () => {
    const r = probeRuleset(9);
    expect(r).toContain(`table ip ${PROBE_TABLE} {`);
    expect(r).toContain('type filter hook postrouting priority 300; policy accept;');
    expect(r).toMatch(/udp dport 9 udp checksum set 0x[0-9a-f]+\n/);
    expect(r.match(/udp dport/g)).toHaveLength(1);
  });

  it('describes what the control showed', () => {
    expect(describeProbe({ ran: true, sent: 3, counted: 3, verified: true })).toMatch(/^node B verifies checksums on this path: 3 of 3/);
    expect(describeProbe({ ran: true, sent: 3, counted: 0, verified: false })).toMatch(/proves nothing/);
    expect(describeProbe({ ran: false, reason: 'nft not found' })).toBe('checksum probe not run: nft not found');
  });
});
