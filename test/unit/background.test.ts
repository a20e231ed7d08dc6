import { describe, expect, it } from 'vitest';
import { withBackground } from '../../src/analysis/verdict.js';
import type { ModeResult } from '../../src/types.js';

/** A reproduced mode: `race` lost SYNs matched by insert_failed. */
function reproduced(race: number): ModeResult {
  return {
    mode: 'random-fully', rule: 'r', attempts: 150_000, succeeded: 150_000, failed: 0, failures: {}, durationMs: 6000, connectsPerSecond: 25_000,
    latencyMs: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1001 }, signatures: { '1s': race }, slowOutsideBands: 0,
    counters: { conntrack: { insert_failed: race, drop: race }, clients: { TcpExtTCPSynRetrans: race }, server: {} },
    attribution: { unit: 'lost-syn', lostSyns: race, conntrackRace: race, serverOverload: 0, unexplained: 0 },
    verdict: 'reproduced', reason: `${race} of ${race} lost SYNs are matched by conntrack insert_failed (+${race})`,
    detectableRatePer100k: 2, notes: [], histogram: '',
  } as ModeResult;
}

describe('withBackground (docker: the NAT table is the host\'s)', () => {
  it('a race count within what the host made alone in an idle window of the same length is not evidence', () => {
    // The case from the issue: 1 of 1 lost SYNs "matched" while the host's other containers raced too.
    const m = withBackground(reproduced(1), { windowMs: 6000, conntrack: { insert_failed: 3, drop: 3 } });
    expect(m.verdict).toBe('inconclusive');
    expect(m.reason).toMatch(/moved insert_failed by \+3 in an idle window of 6\.0 s/);
    expect(m.background?.conntrack['insert_failed']).toBe(3);
  });
  it('a race count above the background stays reproduced, and the reason says the background moved', () => {
    const m = withBackground(reproduced(40), { windowMs: 6000, conntrack: { insert_failed: 2 } });
    expect(m.verdict).toBe('reproduced');
    expect(m.reason).toMatch(/background: the host's own traffic moved insert_failed by \+2/);
  });
  it('a quiet background changes nothing but is recorded', () => {
    const base = reproduced(1);
    const m = withBackground(base, { windowMs: 6000, conntrack: {} });
    expect(m.verdict).toBe('reproduced');
    expect(m.reason).toBe(base.reason);
    expect(m.background).toEqual({ windowMs: 6000, conntrack: {} });
  });
});
