import { describe, expect, it } from 'vitest';
import { ownedByAnyRun, ownedByRun, removalBatch } from '../../src/host/iptables.js';

/** Someone else's rules that only look like the harness's must stay: cleanup decides by exact shapes. */
describe('cleanup by exact shapes', () => {
  const save = [
    '*nat',
    ':POSTROUTING ACCEPT [0:0]',
    ':REPRO-NAT-a1b2c3 - [0:0]',
    ':KEEP-a1b2c3 - [0:0]',
    '-A POSTROUTING -m comment --comment "repro:a1b2c3" -j REPRO-NAT-a1b2c3',
    '-A POSTROUTING -s 10.9.0.0/16 -m comment --comment "repro:a1b2c3 is what my team calls this" -j MASQUERADE',
    '-A POSTROUTING -s 10.8.0.0/16 -m comment --comment repro:a1b2c3d4 -j MASQUERADE',
    'COMMIT',
    '',
  ].join('\n');

  it('a comment is ours only when it is repro:<id> whole, not its first word', () => {
    const lines = removalBatch(save, ownedByRun('a1b2c3')).split('\n').filter((l) => l.startsWith('-'));
    expect(lines).toEqual(['-D POSTROUTING -m comment --comment "repro:a1b2c3" -j REPRO-NAT-a1b2c3', '-F REPRO-NAT-a1b2c3', '-X REPRO-NAT-a1b2c3']);
    expect(removalBatch(save, ownedByAnyRun)).not.toMatch(/10\.[89]\.0\.0/);
  });

  it('names: the id itself or REPRO-<WORD>-<id>, nothing that merely ends in -<id> or is a longer hex word', () => {
    const owns = ownedByRun('a1b2c3');
    expect(['a1b2c3', 'REPRO-NAT-a1b2c3', 'REPRO-SEPZ-a1b2c3'].map(owns)).toEqual([true, true, true]);
    expect(['KEEP-a1b2c3', 'REPRO-a1b2c3', 'REPRO-X-Y-a1b2c3', 'ffa1b2c3'].map(owns)).toEqual([false, false, false, false]);
    expect(['a1b2c3d4', 'REPRO-NAT-a1b2c3d4', 'deadbeefcafe'].map(ownedByAnyRun)).toEqual([false, false, false]);
  });
});
