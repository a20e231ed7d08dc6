import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { buildRaceLab } from './raceLab.js';
import { conntrackDelta, readConntrackStatIn, type ConntrackStat } from '../../src/host/conntrackStat.js';

const gate = capabilityGate();

describe.skipIf(gate.skip)(`conntrack stats over procfs and netlink${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('reads the same deltas both ways around real race drops in a router namespace', async () => {
    const host = hostSnapshot();
    const lab = buildRaceLab();
    try {
      const ns = { kind: 'netns' as const, name: lab.router };
      const read = async (): Promise<Record<'procfs' | 'netlink', ConntrackStat>> => {
        const p = await readConntrackStatIn(ns, 'procfs');
        const n = await readConntrackStatIn(ns, 'netlink');
        expect([p.source, n.source]).toEqual(['procfs', 'netlink']);
        return { procfs: p.stat, netlink: n.stat };
      };
      const before = await read();
      const race = await lab.race(500);
      const after = await read();
      const viaProcfs = conntrackDelta(before.procfs, after.procfs);
      const viaNetlink = conntrackDelta(before.netlink, after.netlink);
      // Every counter both sources have, exactly; entries is a gauge that timeouts move on their own.
      const counters = Object.keys(viaNetlink).filter((k) => k !== 'entries');
      expect(counters.sort()).toEqual(['chainlength', 'clashres', 'drop', 'early_drop', 'found', 'icmp_error', 'insert', 'insert_failed', 'invalid', 'search_restart']);
      for (const k of counters) expect({ [k]: viaNetlink[k] }).toEqual({ [k]: viaProcfs[k] });
      // Real race drops, and each one is a SYN that got no answer (the server namespace answers every SYN it sees).
      expect(viaProcfs['insert_failed']).toBeGreaterThan(0);
      expect(viaProcfs['drop']).toBe(viaProcfs['insert_failed']);
      // A bound, not an equality: a dropped SYN is never answered within the tool's 30 ms wait (its retransmit
      // comes after the 1 s RTO), but on a busy host an answered one can take longer than 30 ms too.
      expect(race.unanswered).toBeGreaterThanOrEqual(viaProcfs['insert_failed'] ?? Infinity);
      process.stderr.write(`same-port race: ${race.rounds} rounds, ${race.unanswered} SYNs unanswered, insert_failed +${viaProcfs['insert_failed']} (procfs) +${viaNetlink['insert_failed']} (netlink)\n`);
    } finally {
      lab.destroy();
    }
    expect(hostSnapshot()).toEqual(host);
  }, 60_000);
});
