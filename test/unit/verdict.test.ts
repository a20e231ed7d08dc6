import { describe, expect, it } from 'vitest';
import {
  attemptsToRuleOut,
  attribute,
  decideVerdict,
  detectableRatePer100k,
  observedLostSyns,
  overallVerdict,
  synLossNotes,
  raceDrops,
  serverDrops,
  type VerdictInput,
} from '../../src/analysis/verdict.js';
import type { Attribution, SignatureBand } from '../../src/types.js';
import { rateOf } from '../../src/analysis/rates.js';
import { lostSynsByTimeout, synScheduleFromSysctls } from '../../src/analysis/synSchedule.js';

const BANDS: SignatureBand[] = [
  { name: '1s', lostSyns: 1, loMs: 980, hiMs: 1350, count: 5 },
  { name: '3s', lostSyns: 2, loMs: 2980, hiMs: 3450, count: 2 },
  { name: '7s', lostSyns: 3, loMs: 6980, hiMs: 7650, count: 1 },
];
// 5*1 + 2*2 + 1*3 = 12 lost SYNs in the bands, + 1 timeout * 4 = 16.

describe('attribute', () => {
  it('credits the race first, then the server, and leaves the rest unexplained', () => {
    expect(
      attribute({
        bands: BANDS,
        timeouts: 1,
        lostSynsPerTimeout: 4,
        conntrack: { insert_failed: 10, drop: 10 },
        server: { TcpExtListenOverflows: 3, TcpExtListenDrops: 4 },
      }),
    ).toEqual({ unit: 'lost-syn', lostSyns: 16, conntrackRace: 10, serverOverload: 4, unexplained: 2, stalled: 9, raceStalled: 9, neverRetransmitted: 1 });
  });

  it('never credits more than the lost SYNs seen', () => {
    expect(
      attribute({ bands: BANDS, timeouts: 0, lostSynsPerTimeout: 4, conntrack: { insert_failed: 50 }, server: { TcpExtListenDrops: 9 } }),
    ).toEqual({ unit: 'lost-syn', lostSyns: 12, conntrackRace: 12, serverOverload: 0, unexplained: 0, stalled: 8, raceStalled: 8, neverRetransmitted: 0 });
    expect(
      attribute({ bands: BANDS, timeouts: 0, lostSynsPerTimeout: 4, conntrack: { insert_failed: 2 }, server: { TcpExtListenDrops: 100 } }),
    ).toEqual({ unit: 'lost-syn', lostSyns: 12, conntrackRace: 2, serverOverload: 10, unexplained: 0, stalled: 8, raceStalled: 2, neverRetransmitted: 0 });
  });

  it('falls back to drop when insert_failed is missing', () => {
    const a = attribute({ bands: BANDS, timeouts: 0, lostSynsPerTimeout: 4, conntrack: { drop: 3 }, server: {} });
    expect(a).toEqual({ unit: 'lost-syn', lostSyns: 12, conntrackRace: 3, serverOverload: 0, unexplained: 9, stalled: 8, raceStalled: 3, neverRetransmitted: 0 });
  });

  it('does not fall back to drop when insert_failed is present and 0', () => {
    const a = attribute({ bands: BANDS, timeouts: 0, lostSynsPerTimeout: 4, conntrack: { insert_failed: 0, drop: 7 }, server: {} });
    expect(a.conntrackRace).toBe(0);
    expect(a.unexplained).toBe(12);
  });

  it("caps the bands' lost SYNs at the retransmits left after the timeouts", () => {
    // 16 lost SYNs seen in the latencies (12 in bands, 4 in the timeout), 11 retransmits: the timeout sent 3 of them
    // (its 4th SYN was never retransmitted), leaving 8 for the bands' 12: 4 band SYNs were not lost.
    // Attempts confirmed fewest-lost first: the timeout, five 1 s stalls (5 retransmits), one 3 s stall (2) = 7.
    expect(
      attribute({ bands: BANDS, timeouts: 1, lostSynsPerTimeout: 4, conntrack: { insert_failed: 10 }, server: { TcpExtListenDrops: 4 }, synRetrans: 11 }),
    ).toEqual({ unit: 'lost-syn', lostSyns: 12, conntrackRace: 10, serverOverload: 2, unexplained: 0, stalled: 7, raceStalled: 7, neverRetransmitted: 1 });
    expect(
      attribute({ bands: BANDS, timeouts: 1, lostSynsPerTimeout: 4, conntrack: { insert_failed: 10 }, server: {}, synRetrans: 30 }).lostSyns,
    ).toBe(16);
    // No retransmit at all: the band stalls were scheduling, but the timed-out connect lost its 4 SYNs all the same.
    expect(attribute({ bands: BANDS, timeouts: 1, lostSynsPerTimeout: 4, conntrack: { insert_failed: 10 }, server: {}, synRetrans: 0 })).toEqual({
      unit: 'lost-syn',
      lostSyns: 4,
      conntrackRace: 4,
      serverOverload: 0,
      unexplained: 0,
      stalled: 1,
      raceStalled: 1,
      neverRetransmitted: 1,
    });
  });

  it("counts a timed-out connect's SYNs from the kernel's schedule: with an 8 s timeout on 6.5+, 7 lost and 6 retransmitted", () => {
    // net/ipv4/tcp_timer.c with tcp_syn_linear_timeouts = 4, tcp_syn_retries = 6 (the 6.5+ defaults): the SYN at 0 s,
    // retransmits at 1, 2, 3, 4, 5 and 7 s (four linear 1 s timeouts, then 2 s, then 4 s), the next one at 11 s is after 8 s.
    const schedule = synScheduleFromSysctls({ tcp_syn_linear_timeouts: '4', tcp_syn_retries: '6' });
    expect(schedule.completionMs.filter((t) => t < 8000)).toEqual([1000, 2000, 3000, 4000, 5000, 7000]);
    const perTimeout = lostSynsByTimeout(schedule, 8000);
    expect(perTimeout).toBe(7);
    const none = BANDS.map((b) => ({ ...b, count: 0 }));
    const a = attribute({ bands: none, timeouts: 1, lostSynsPerTimeout: perTimeout, conntrack: { insert_failed: 0 }, server: {}, synRetrans: 6 });
    expect(a.lostSyns).toBe(7);
    expect(a.neverRetransmitted).toBe(1);
    expect(a.stalled).toBe(1);
    const notes = synLossNotes({ bands: none, timeouts: 1, lostSynsPerTimeout: perTimeout, synRetrans: 6 });
    expect(notes).toEqual([
      '1 connects timed out, each after 7 unanswered SYNs by the kernel\'s retransmit schedule: 7 lost SYNs, 1 of them (the last of each) never retransmitted because the connect ended first',
    ]);
    expect(notes.join(' ')).not.toContain('scheduling');
  });

  it('is all zero without stalls', () => {
    const bands = BANDS.map((b) => ({ ...b, count: 0 }));
    expect(attribute({ bands, timeouts: 0, lostSynsPerTimeout: 4, conntrack: { insert_failed: 4 }, server: {} })).toEqual({
      unit: 'lost-syn',
      lostSyns: 0,
      conntrackRace: 0,
      serverOverload: 0,
      unexplained: 0,
      stalled: 0,
      raceStalled: 0,
      neverRetransmitted: 0,
    });
  });
});

describe('observedLostSyns', () => {
  it('counts n per attempt in the n-lost-SYNs band plus those of timed-out attempts', () => {
    expect(observedLostSyns({ bands: BANDS, timeouts: 0, lostSynsPerTimeout: 4 })).toBe(12);
    expect(observedLostSyns({ bands: BANDS, timeouts: 2, lostSynsPerTimeout: 4 })).toBe(20);
    expect(observedLostSyns({ bands: [], timeouts: 3, lostSynsPerTimeout: 1 })).toBe(3);
  });
});

describe('raceDrops / serverDrops', () => {
  it('reads insert_failed, else drop, else 0', () => {
    expect(raceDrops({ insert_failed: 4, drop: 9 })).toBe(4);
    expect(raceDrops({ drop: 9 })).toBe(9);
    expect(raceDrops({})).toBe(0);
  });

  it('takes the larger of ListenOverflows and ListenDrops', () => {
    expect(serverDrops({ TcpExtListenOverflows: 5, TcpExtListenDrops: 3 })).toBe(5);
    expect(serverDrops({ TcpExtListenOverflows: 5, TcpExtListenDrops: 8 })).toBe(8);
    expect(serverDrops({})).toBe(0);
  });
});

describe('attemptsToRuleOut / detectableRatePer100k', () => {
  it('follows the rule of three (-ln 0.05 = 2.9957)', () => {
    // 2.995732 * 100000 / 5 = 59914.6
    expect(attemptsToRuleOut(5)).toBe(59915);
    expect(attemptsToRuleOut(1)).toBe(299574);
    expect(attemptsToRuleOut(100)).toBe(2996);
  });

  it('gives the rate a run of n attempts rules out', () => {
    expect(detectableRatePer100k(100_000)).toBeCloseTo(2.9957, 4);
    expect(detectableRatePer100k(300_000)).toBeCloseTo(0.99858, 4);
    expect(detectableRatePer100k(0)).toBe(Infinity);
    expect(detectableRatePer100k(-1)).toBe(Infinity);
  });

  it('is consistent: the needed attempts rule out at least the rate asked for', () => {
    for (const r of [0.5, 1, 5, 37, 1000]) {
      const n = attemptsToRuleOut(r);
      expect(detectableRatePer100k(n)).toBeLessThanOrEqual(r);
      expect(detectableRatePer100k(n - 1)).toBeGreaterThan(r);
    }
  });
});

const NOTHING: Attribution = { unit: 'lost-syn', lostSyns: 0, conntrackRace: 0, serverOverload: 0, unexplained: 0 };

function input(over: Partial<VerdictInput>): VerdictInput {
  return { attempts: 60_000, attribution: NOTHING, serverDrops: 0, harnessFailures: 0, conntrackRaceDrops: 0, detectRatePer100k: 5, ...over };
}

describe('decideVerdict', () => {
  it('is invalid without attempts', () => {
    expect(decideVerdict(input({ attempts: 0 }))).toEqual({ verdict: 'invalid', reason: 'no connect attempt was made' });
  });

  it('is invalid when the server dropped SYNs, even with race drops', () => {
    const v = decideVerdict(
      input({
        serverDrops: 3,
        conntrackRaceDrops: 4,
        attribution: { unit: 'lost-syn', lostSyns: 7, conntrackRace: 4, serverOverload: 3, unexplained: 0 },
      }),
    );
    expect(v.verdict).toBe('invalid');
    expect(v.reason).toContain('dropped 3 SYNs');
    expect(v.reason).toContain('ListenOverflows');
  });

  it('is invalid when harness failures exceed 0.1 % of attempts', () => {
    // 10_000 attempts: up to 10 harness failures are tolerated.
    expect(decideVerdict(input({ attempts: 10_000, harnessFailures: 10 })).verdict).not.toBe('invalid');
    const v = decideVerdict(input({ attempts: 10_000, harnessFailures: 11 }));
    expect(v.verdict).toBe('invalid');
    expect(v.reason).toContain('11 attempts failed');
    expect(v.reason).toContain('0.1 %');
  });

  it('is reproduced when lost SYNs are matched by insert_failed', () => {
    const v = decideVerdict(
      input({ conntrackRaceDrops: 10, attribution: { unit: 'lost-syn', lostSyns: 16, conntrackRace: 10, serverOverload: 0, unexplained: 6 } }),
    );
    expect(v).toEqual({
      verdict: 'reproduced',
      reason: '10 of 16 lost SYNs are matched by conntrack insert_failed (+10); 6 more lost SYNs are explained by no counter',
    });
  });

  it('is reproduced without the unexplained clause when everything is explained', () => {
    const v = decideVerdict(
      input({ attempts: 100, conntrackRaceDrops: 2, attribution: { unit: 'lost-syn', lostSyns: 2, conntrackRace: 2, serverOverload: 0, unexplained: 0 } }),
    );
    expect(v.verdict).toBe('reproduced');
    expect(v.reason).toBe('2 of 2 lost SYNs are matched by conntrack insert_failed (+2)');
  });

  it('is not-reproduced when enough attempts saw no race', () => {
    const v = decideVerdict(input({ attempts: 60_000 }));
    expect(v.verdict).toBe('not-reproduced');
    expect(v.reason).toContain('no race drop in 60000 attempts');
    expect(v.reason).toContain('5 per 100 000');
  });

  it('says its bound is one-sided, beside the rates table whose intervals are two-sided (published values)', () => {
    // 0 events in 60 000: one-sided 95 % upper bound -ln(0.05)/n = 2.996/n = 4.99 per 100 000 (the rule of three);
    // the two-sided exact (Garwood) 95 % upper bound for 0 is 3.689, i.e. 6.15 per 100 000 (Ulm 1990, Table 1).
    const v = decideVerdict(input({ attempts: 60_000 }));
    expect(v.reason).toContain('one-sided 95 % upper bound for 0 in 60000: 4.99 per 100 000');
    expect(v.reason).toContain("the rates table's intervals are two-sided");
    expect(rateOf(0, 60_000).upper).toBeCloseTo(6.148, 2);
  });

  it('is inconclusive with too few attempts and says how many are needed', () => {
    const v = decideVerdict(input({ attempts: 1000 }));
    expect(v.verdict).toBe('inconclusive');
    expect(v.reason).toContain('needs at least 59915');
  });

  it('switches from inconclusive to not-reproduced at exactly the needed count', () => {
    expect(decideVerdict(input({ attempts: 59_914 })).verdict).toBe('inconclusive');
    expect(decideVerdict(input({ attempts: 59_915 })).verdict).toBe('not-reproduced');
  });

  it('mentions unexplained stalls and stray insert_failed without calling them the race', () => {
    const unexplained = decideVerdict(
      input({ attribution: { unit: 'lost-syn', lostSyns: 3, conntrackRace: 0, serverOverload: 0, unexplained: 3 } }),
    );
    expect(unexplained.verdict).toBe('not-reproduced');
    expect(unexplained.reason).toContain('3 lost SYNs seen, none matched by insert_failed');

    const stray = decideVerdict(input({ attempts: 100, conntrackRaceDrops: 2 }));
    expect(stray.verdict).toBe('inconclusive');
    expect(stray.reason).toContain('insert_failed +2 without any stalled connect');
  });
});

describe('overallVerdict', () => {
  it('is reproduced when any mode reproduced', () => {
    expect(overallVerdict(['not-reproduced', 'invalid', 'reproduced'])).toBe('reproduced');
  });

  it('is otherwise the worst: invalid, then inconclusive, then not-reproduced', () => {
    expect(overallVerdict(['not-reproduced', 'inconclusive', 'invalid'])).toBe('invalid');
    expect(overallVerdict(['not-reproduced', 'inconclusive', 'not-reproduced'])).toBe('inconclusive');
    expect(overallVerdict(['not-reproduced', 'not-reproduced'])).toBe('not-reproduced');
  });

  it('a mode where the race happened and the kernel resolved it outranks everything but reproduced', () => {
    expect(overallVerdict(['race-resolved', 'not-reproduced', 'invalid'])).toBe('race-resolved');
    expect(overallVerdict(['race-resolved', 'reproduced'])).toBe('reproduced');
  });

  it('is invalid for no modes', () => {
    expect(overallVerdict([])).toBe('invalid');
  });
});
