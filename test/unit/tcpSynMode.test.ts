import { describe, expect, it } from 'vitest';
import { analyzeMode, burstReading, extraRetransmitsNote, per100kWords, type ModeInput } from '../../src/scenarios/tcpSyn/analyze.js';
import type { ClientOutcome } from '../../src/scenarios/shared/clientOutcome.js';
import { countBetween, createHistogram, decodeHistogram, encodeHistogram, recordMicros } from '../../src/histogram.js';
import type { ModeCounters } from '../../src/types.js';
import { synScheduleFromSysctls } from '../../src/analysis/synSchedule.js';

/** Encoded histogram of [valueUs, times] pairs. */
function encoded(pairs: readonly [number, number][]): string {
  const h = createHistogram();
  for (const [v, n] of pairs) for (let i = 0; i < n; i++) recordMicros(h, v);
  return encodeHistogram(h);
}

// Client A: 998 successes (995 fast, two 1 s stalls, one 3 s stall), one timeout, one refused.
const CLIENT_A: ClientOutcome = {
  attempts: 1000,
  succeeded: 998,
  failed: 2,
  failures: { ETIMEDOUT: 1, ECONNREFUSED: 1 },
  histogram: encoded([[800, 995], [1_001_000, 2], [3_004_000, 1]]),
};
// Client B: 1000 successes (999 fast, one slow outside every band).
const CLIENT_B: ClientOutcome = {
  attempts: 1000,
  succeeded: 1000,
  failed: 0,
  failures: {},
  histogram: encoded([[900, 999], [450_000, 1]]),
};

function counters(over: Partial<ModeCounters> = {}): ModeCounters {
  return {
    conntrack: { insert_failed: 5, drop: 5, early_drop: 0 },
    clients: { TcpExtTCPSynRetrans: 9 },
    server: { TcpExtListenOverflows: 0, TcpExtListenDrops: 0 },
    ...over,
  };
}

function modeInput(over: Partial<ModeInput> = {}): ModeInput {
  return {
    mode: 'none',
    rule: 'REPRO-NAT-a1b2c3 -s 10.213.0.0/24 ! -o rpa1b2c3-br -j MASQUERADE',
    clients: [CLIENT_A, CLIENT_B],
    counters: counters(),
    durationMs: 10_000.4,
    connectTimeoutMs: 8000,
    detectRatePer100k: 5,
    ...over,
  };
}

describe('analyzeMode', () => {
  it('sums the clients: attempts = succeeded + failed, failures merged by code', () => {
    const r = analyzeMode(modeInput());
    expect(r.mode).toBe('none');
    expect(r.attempts).toBe(2000);
    expect(r.succeeded).toBe(1998);
    expect(r.failed).toBe(2);
    expect(r.attempts).toBe(r.succeeded + r.failed);
    expect(r.failures).toEqual({ ETIMEDOUT: 1, ECONNREFUSED: 1 });
    expect(r.durationMs).toBe(10_000);
    expect(r.connectsPerSecond).toBe(200);
  });

  it('merges failure codes that several clients report', () => {
    const c: ClientOutcome = { attempts: 10, succeeded: 7, failed: 3, failures: { ETIMEDOUT: 2, ECONNREFUSED: 1 }, histogram: encoded([[800, 7]]) };
    const r = analyzeMode(modeInput({ clients: [CLIENT_A, c, c] }));
    expect(r.failures).toEqual({ ETIMEDOUT: 5, ECONNREFUSED: 3 });
    expect(r.attempts).toBe(1020);
    expect(r.failed).toBe(8);
  });

  it('counts the retransmit signatures of the merged histogram', () => {
    const r = analyzeMode(modeInput());
    expect(r.signatures).toEqual({ '1s': 2, '3s': 1, '7s': 0 });
    expect(r.slowOutsideBands).toBe(1);
  });

  it('reads latency percentiles from the merged histogram', () => {
    const r = analyzeMode(modeInput());
    // 1998 values: 995 x 0.8 ms, 999 x 0.9 ms, then 450 ms, 2 x 1001 ms, 3004 ms.
    expect(r.latencyMs.p50).toBe(0.9);
    expect(r.latencyMs.p90).toBe(0.9);
    expect(r.latencyMs.p99).toBe(0.9);
    // 99.9 % of 1998 = 1996.002 -> the 1997th value, a 1001 ms stall, stored in [1000.960, 1001.471] ms.
    expect(r.latencyMs.p999).toBe(1001.471);
    // 3004 ms is stored in [3002.368, 3004.415] ms.
    expect(r.latencyMs.max).toBe(3004.415);
  });

  it('stores the merged histogram', () => {
    const h = decodeHistogram(analyzeMode(modeInput()).histogram);
    expect(h.totalCount).toBe(1998);
    expect(countBetween(h, 900_000, 1_100_000)).toBe(2);
  });

  it("follows the clients' SYN schedule: on 6.5+ a 3 s stall is 3 lost SYNs and an 8 s timeout 7 (net/ipv4/tcp_timer.c)", () => {
    const linear = synScheduleFromSysctls({ tcp_syn_linear_timeouts: '4', tcp_syn_retries: '6' });
    const c: ClientOutcome = {
      attempts: 1000, succeeded: 999, failed: 1, failures: { ETIMEDOUT: 1 },
      histogram: encoded([[800, 995], [1_001_000, 1], [2_003_000, 1], [3_004_000, 1], [4_050_000, 1]]),
    };
    const r = analyzeMode(modeInput({ clients: [c], synSchedule: linear, counters: counters({ clients: { TcpExtTCPSynRetrans: 17 } }) }));
    expect(r.signatures).toEqual({ '1s': 1, '2s': 1, '3s': 1, '4s': 1, '5s': 0, '7s': 0 });
    expect(r.slowOutsideBands).toBe(0);
    // 1 + 2 + 3 + 4 in the bands + 7 for the timeout (SYNs at 0, 1, 2, 3, 4, 5, 7 s).
    expect(r.attribution.lostSyns).toBe(17);
    expect(r.synSchedule).toEqual(linear);
    // Without the schedule the same stalls read as 1 s and 3 s bands plus two slow outliers.
    const old = analyzeMode(modeInput({ clients: [c], counters: counters({ clients: { TcpExtTCPSynRetrans: 17 } }) }));
    expect(old.slowOutsideBands).toBe(2);
    expect(old.synSchedule?.source).toBe('assumed-exponential');
  });

  it('before 5.10 (no clashres column) race drops are min(insert_failed, drop): resolved clashes bump insert_failed too', () => {
    // 5 lost SYNs, insert_failed +9 (4 of them resolved UDP clashes of other traffic), drop +5.
    const r = analyzeMode(modeInput({ counters: counters({ conntrack: { insert_failed: 9, drop: 5 }, clients: { TcpExtTCPSynRetrans: 8 } }) }));
    expect(r.attribution.conntrackRace).toBe(5);
    expect(r.notes.some((n) => n.includes('min(insert_failed, drop) = 5'))).toBe(true);
    // With a clashres column (5.10+) insert_failed counts only unresolved clashes and is read as is.
    const modern = analyzeMode(modeInput({ counters: counters({ conntrack: { insert_failed: 3, drop: 9, clashres: 0 }, clients: { TcpExtTCPSynRetrans: 8 } }) }));
    expect(modern.attribution.conntrackRace).toBe(3);
  });

  it('attributes lost SYNs: bands + timeouts, race first', () => {
    const r = analyzeMode(modeInput());
    // 2 x 1 s stalls (1 SYN each) + 1 x 3 s stall (2) + 1 timeout at 8 s (4 SYNs) = 8 lost SYNs.
    // Attempts: the timeout and the three band stalls; the timeout's 4th SYN was never retransmitted.
    expect(r.attribution).toEqual({ unit: 'lost-syn', lostSyns: 8, conntrackRace: 5, serverOverload: 0, unexplained: 3, stalled: 4, raceStalled: 4, neverRetransmitted: 1 });
    expect(r.verdict).toBe('reproduced');
    expect(r.reason).toBe('5 of 8 lost SYNs are matched by conntrack insert_failed (+5); 3 more lost SYNs are explained by no counter');
  });

  it('notes the SynRetrans mismatch and the slow attempts outside the bands', () => {
    const r = analyzeMode(modeInput());
    expect(r.notes).toHaveLength(3);
    expect(r.notes[0]).toBe(
      "1 connects timed out, each after 4 unanswered SYNs by the kernel's retransmit schedule: 4 lost SYNs, 1 of them (the last of each) never retransmitted because the connect ended first",
    );
    // The stalls imply 1 + 1 + 2 retransmits in the bands and 3 for the timeout (SYNs at 0, 1, 3, 7 s): 7 of the 9.
    expect(r.notes[1]).toBe('clients retransmitted 9 SYNs (TcpExtTCPSynRetrans), 2 more than the stalls imply (completed outside a band)');
    expect(r.notes[2]).toContain('1 attempts took >= 200 ms but match no retransmit band');
  });

  it("explains extra retransmits by the server's SYN challenges (a port reused before its RST arrived), the rest as outside a band", () => {
    expect(extraRetransmitsNote(9, 8, 1)).toBe(
      "clients retransmitted 9 SYNs (TcpExtTCPSynRetrans), 1 more than the stalls imply: 1 answered a challenge ACK " +
        "(server TcpExtTCPSYNChallenge +1: a local port reused before the previous connection's RST reached the server; resent after TCP_TIMEOUT_MIN, 2 jiffies, not lost)",
    );
    expect(extraRetransmitsNote(11, 8, 2)).toMatch(/: 2 answered a challenge ACK \(server TcpExtTCPSYNChallenge \+2: .*\), 1 completed outside a band$/);
    // More challenges than extra retransmits: only the extra ones are explained by them.
    expect(extraRetransmitsNote(9, 8, 5)).toMatch(/: 1 answered a challenge ACK \(server TcpExtTCPSYNChallenge \+5/);
    expect(extraRetransmitsNote(9, 8, 0)).toBe('clients retransmitted 9 SYNs (TcpExtTCPSynRetrans), 1 more than the stalls imply (completed outside a band)');
    expect(extraRetransmitsNote(9, 8, undefined)).toContain('(completed outside a band)');
  });

  it('counts no more lost SYNs than the clients retransmitted', () => {
    // The stalls imply 7 retransmits (3 of them the timeout's), but only 6 SYNs were retransmitted: the timeout's 4 SYNs
    // stand (it failed), 3 retransmits are left for the bands' 4 SYNs, so one band SYN was scheduling.
    const r = analyzeMode(modeInput({ counters: counters({ clients: { TcpExtTCPSynRetrans: 6 } }) }));
    expect(r.attribution).toEqual({ unit: 'lost-syn', lostSyns: 7, conntrackRace: 5, serverOverload: 0, unexplained: 2, stalled: 3, raceStalled: 3, neverRetransmitted: 1 });
    expect(r.verdict).toBe('reproduced');
    expect(r.reason).toBe('5 of 7 lost SYNs are matched by conntrack insert_failed (+5); 2 more lost SYNs are explained by no counter');
    expect(r.notes[1]).toBe(
      'the stalls imply 7 SYN retransmits but the clients retransmitted only 6 (TcpExtTCPSynRetrans): 1 SYNs of the latency bands are not confirmed lost (scheduling delays) and are not counted',
    );
  });

  it("counts only the timed-out connect's SYNs when the clients retransmitted no SYN at all", () => {
    const r = analyzeMode(modeInput({ counters: counters({ conntrack: { insert_failed: 0, drop: 0 }, clients: { TcpExtTCPSynRetrans: 0 } }) }));
    expect(r.signatures).toEqual({ '1s': 2, '3s': 1, '7s': 0 });
    expect(r.attribution).toEqual({ unit: 'lost-syn', lostSyns: 4, conntrackRace: 0, serverOverload: 0, unexplained: 4, stalled: 1, raceStalled: 0, neverRetransmitted: 1 });
    expect(r.verdict).toBe('inconclusive');
  });

  it('notes connects that found no free local port, and counts them as harness failures', () => {
    const noPort: ClientOutcome = { ...CLIENT_B, succeeded: 999, failed: 1, failures: { EADDRNOTAVAIL: 1 } };
    const r = analyzeMode(modeInput({ clients: [CLIENT_A, noPort] }));
    // 1 refused + 1 without a port = 2 harness failures of 2000 attempts: at the 0.1 % limit, still valid.
    expect(r.verdict).toBe('reproduced');
    expect(r.notes.some((n) => n.startsWith('1 connects found no free local port (EADDRNOTAVAIL)'))).toBe(true);
    const twoNoPort: ClientOutcome = { ...CLIENT_B, succeeded: 998, failed: 2, failures: { EADDRNOTAVAIL: 2 } };
    expect(analyzeMode(modeInput({ clients: [CLIENT_A, twoNoPort] })).verdict).toBe('invalid');
  });

  it('never attributes a stall to the race when insert_failed is 0', () => {
    const r = analyzeMode(modeInput({ counters: counters({ conntrack: { insert_failed: 0, drop: 6, early_drop: 6 } }) }));
    expect(r.attribution.conntrackRace).toBe(0);
    expect(r.attribution.unexplained).toBe(8);
    expect(r.verdict).not.toBe('reproduced');
    expect(r.verdict).toBe('inconclusive');
    expect(r.reason).toContain('8 lost SYNs seen, none matched by insert_failed');
    expect(r.notes.some((n) => n.includes('conntrack drop (+6) exceeds insert_failed (+0)') && n.includes('early_drop +6'))).toBe(true);
  });

  it('credits stalls to the server and calls the run invalid when the listener dropped SYNs', () => {
    const r = analyzeMode(
      modeInput({ counters: counters({ conntrack: { insert_failed: 0, drop: 0 }, server: { TcpExtListenOverflows: 6, TcpExtListenDrops: 6 } }) }),
    );
    expect(r.attribution).toEqual({ unit: 'lost-syn', lostSyns: 8, conntrackRace: 0, serverOverload: 6, unexplained: 2, stalled: 4, raceStalled: 0, neverRetransmitted: 1 });
    expect(r.verdict).toBe('invalid');
  });

  it('is invalid when harness failures exceed 0.1 % of attempts', () => {
    const refused: ClientOutcome = { ...CLIENT_B, succeeded: 997, failed: 3, failures: { ECONNREFUSED: 3 } };
    // 4 refused of 2000 attempts > 2.
    const r = analyzeMode(modeInput({ clients: [CLIENT_A, refused] }));
    expect(r.verdict).toBe('invalid');
    expect(r.reason).toContain('4 attempts failed');
  });

  it('does not count aborted attempts as harness failures, and notes them', () => {
    const aborted: ClientOutcome = { ...CLIENT_B, succeeded: 990, failed: 10, failures: { ABORTED: 10 } };
    const r = analyzeMode(modeInput({ clients: [CLIENT_A, aborted] }));
    expect(r.verdict).toBe('reproduced');
    expect(r.notes).toContain('10 attempts were cut short when the run was stopped');
  });

  it('notes insert_failed in excess of the lost SYNs seen', () => {
    const r = analyzeMode(modeInput({ counters: counters({ conntrack: { insert_failed: 12, drop: 12 } }) }));
    expect(r.attribution.conntrackRace).toBe(8);
    expect(r.notes.some((n) => n.startsWith('insert_failed rose by 12, more than the 8 lost SYNs seen'))).toBe(true);
  });

  it('is not-reproduced for a clean run large enough to rule out the rate', () => {
    const clean: ClientOutcome = { attempts: 30_000, succeeded: 30_000, failed: 0, failures: {}, histogram: encoded([[700, 30_000]]) };
    const r = analyzeMode(
      modeInput({
        mode: 'random-fully',
        clients: [clean, clean],
        counters: { conntrack: { insert_failed: 0, drop: 0 }, clients: { TcpExtTCPSynRetrans: 0 }, server: {} },
      }),
    );
    expect(r.verdict).toBe('not-reproduced');
    expect(r.attribution.lostSyns).toBe(0);
    expect(r.signatures).toEqual({ '1s': 0, '3s': 0, '7s': 0 });
    expect(r.notes).toEqual([]);
    // -ln(0.05) / 60000 * 100000 = 4.99289 -> 4.99
    expect(r.detectableRatePer100k).toBe(4.99);
    expect(r.latencyMs.p50).toBe(0.7);
  });

  it('is invalid with no clients at all', () => {
    const r = analyzeMode(modeInput({ clients: [] }));
    expect(r.attempts).toBe(0);
    expect(r.verdict).toBe('invalid');
    expect(r.latencyMs).toEqual({ p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
    expect(r.connectsPerSecond).toBe(0);
  });

  it('adds the http block only for HTTP clients: request latency beside the connect analysis, which stays on connects', () => {
    expect(analyzeMode(modeInput()).http).toBeUndefined();
    // 1000 requests: 999 fresh connects of 0.8 ms and one that lost a SYN (1.001 s); requests take 2 ms more.
    const client: ClientOutcome = {
      attempts: 1000,
      succeeded: 1000,
      failed: 0,
      failures: {},
      histogram: encoded([[800, 999], [1_001_000, 1]]),
      http: { requestHistogram: encoded([[2_800, 999], [1_003_000, 1]]), connects: { attempted: 1000, succeeded: 1000, failed: 0 } },
    };
    const r = analyzeMode(
      modeInput({ clients: [client], counters: counters({ conntrack: { insert_failed: 1, drop: 1 }, clients: { TcpExtTCPSynRetrans: 1 } }) }),
    );
    expect(r.signatures['1s']).toBe(1);
    expect(r.attribution.conntrackRace).toBe(1);
    expect(r.verdict).toBe('reproduced');
    expect(r.http?.keepalive).toBe(false);
    expect(r.http?.connects).toEqual({ attempted: 1000, succeeded: 1000, failed: 0 });
    expect(r.http?.requestLatencyMs.max).toBeGreaterThan(1002);
    expect(r.http?.requestLatencyMs.p50).toBeGreaterThan(r.latencyMs.p50);
    expect(countBetween(decodeHistogram(r.http?.requestHistogram ?? ''), 1, 1e9)).toBe(1000);
    expect(r.notes).toEqual([]);
  });

  it('with keep-alive, notes how few connects the requests opened', () => {
    const pooled: ClientOutcome = {
      attempts: 5000,
      succeeded: 5000,
      failed: 0,
      failures: {},
      histogram: encoded([[900, 32]]),
      http: { requestHistogram: encoded([[1_200, 5000]]), connects: { attempted: 32, succeeded: 32, failed: 0 } },
    };
    const r = analyzeMode(modeInput({ clients: [pooled], keepalive: true, counters: counters({ conntrack: { insert_failed: 0, drop: 0 }, clients: { TcpExtTCPSynRetrans: 0 } }) }));
    expect(r.attempts).toBe(5000);
    expect(r.http?.keepalive).toBe(true);
    expect(r.notes.some((n) => n.startsWith('keep-alive: 5000 requests opened only 32 TCP connects'))).toBe(true);
  });
});

describe('analyzeMode with packet evidence', () => {
  const rec = (collided: boolean) => ({
    client: '10.213.0.2', sport: 40123, seq: 1, atMs: 10, reachedServer: true,
    collision: collided ? { client: '10.213.0.3', sport: 40123, translated: '10.213.1.1:40123', dtUs: 18 } : null,
  });
  const ev = (lost: number, collided: number, capturedDrops = 0) => ({
    captured: 2000, capturedDrops, lostSyns: lost, collisions: collided,
    records: [...Array.from({ length: collided }, () => rec(true)), ...Array.from({ length: lost - collided }, () => rec(false))], recordsOmitted: 0,
  });

  it('a complete capture decides: only lost SYNs that collided are the race, and no more than the counter moved', () => {
    const r = analyzeMode(modeInput({ evidence: ev(6, 3) }));
    expect(r.attributionRule).toBe('evidence');
    expect(r.attribution.conntrackRace).toBe(3);
    expect(r.attribution.lostSyns).toBe(r.attribution.conntrackRace + r.attribution.serverOverload + r.attribution.unexplained);
    expect(r.verdict).toBe('reproduced');
    expect(r.reason).toContain('packet evidence: 3 of the 6 SYNs lost in the NAT collided');
    expect(r.evidence?.collisions).toBe(3);
    const capped = analyzeMode(modeInput({ evidence: ev(9, 9) }));
    expect(capped.attribution.conntrackRace).toBe(5);
  });

  it('lost SYNs without a collision are unexplained whatever the counters say', () => {
    const r = analyzeMode(modeInput({ evidence: ev(4, 0) }));
    expect(r.attributionRule).toBe('evidence');
    expect(r.attribution.conntrackRace).toBe(0);
    expect(r.attribution.unexplained).toBe(r.attribution.lostSyns);
    expect(r.verdict).not.toBe('reproduced');
    expect(r.reason).toContain('insert_failed +5, but none of the 4 SYNs lost in the NAT collided');
  });

  it('collisions without the race counter moving are not the race', () => {
    const r = analyzeMode(modeInput({ evidence: ev(4, 4), counters: counters({ conntrack: { insert_failed: 0, drop: 0, clashres: 0 } }) }));
    expect(r.attribution.conntrackRace).toBe(0);
  });

  it('a capture that lost packets falls back to the counter rule, and says so', () => {
    const r = analyzeMode(modeInput({ evidence: ev(4, 0, 12) }));
    expect(r.attributionRule).toBe('counters');
    expect(r.attribution.conntrackRace).toBe(5);
    expect(r.notes.join(' ')).toContain('the capture missed 12 packets');
  });

  it('without a capture the counters decide', () => {
    const r = analyzeMode(modeInput());
    expect(r.attributionRule).toBe('counters');
    expect(r.evidence).toBeUndefined();
  });
});

describe('the burst phase reading', () => {
  it('"not vulnerable" says what was ruled out: the one-sided 95 % bound of 0 in n (-ln(0.05) / n, the rule of three)', () => {
    const none = analyzeMode(modeInput({ clients: [{ ...CLIENT_A, histogram: encoded([[800, 1000]]) }], counters: counters({ conntrack: { insert_failed: 0, drop: 0 }, clients: { TcpExtTCPSynRetrans: 0 } }), detectRatePer100k: 500 }));
    expect(none.verdict).toBe('not-reproduced');
    // 1000 attempts: -ln(0.05) / 1000 x 100 000 = 299.57 per 100 000.
    expect(burstReading(none, 500).verdict).toBe('not-vulnerable');
    expect(burstReading(none, 500).reason).toMatch(
      /^not vulnerable when provoked \(no race drop in 1000 provoked attempts: a race rate of 300 per 100 000 or more is ruled out, one-sided 95 %, below the 500 asked\): /,
    );
  });

  it('a race rate that rounds to 0 is "< 1 per 100 000", never "VULNERABLE (0 race drops per 100 000)"', () => {
    expect(per100kWords(1, 300_000)).toBe('< 1');
    expect(per100kWords(0, 300_000)).toBe('0');
    expect(per100kWords(2, 100_000)).toBe('2');
    const m = analyzeMode(modeInput());
    // 1 in 300 000 is no evidence of a rate above a detect rate of 0.1 (one-sided 95 % lower bound 0.017): inconclusive.
    const one = burstReading({ ...m, verdict: 'reproduced', attempts: 300_000, attribution: { ...m.attribution, conntrackRace: 1, raceStalled: 1 } }, 0.1);
    expect(one.verdict).toBe('inconclusive');
    // 20 in 10 000 000: 0.2 per 100 000, its one-sided 95 % lower bound 0.13 (R: qchisq(0.05, 40) / 2 / 1e7 * 1e5) above 0.1.
    const big = burstReading({ ...m, verdict: 'reproduced', attempts: 10_000_000, attribution: { ...m.attribution, conntrackRace: 20, raceStalled: 20 } }, 0.1);
    expect(big.verdict).toBe('vulnerable');
    expect(big.load).toBe('burst');
    expect(big.reason).toMatch(/^VULNERABLE when provoked \(< 1 race drops per 100 000 provoked attempts, above 0\.1 at one-sided 95 %: at least 0\.13\): /);
  });
});
