import { describe, expect, it } from 'vitest';
import { backgroundTest, withBackground } from '../../src/analysis/verdict.js';
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
    expect(m.reason).toMatch(/moved insert_failed by \+3 in an idle window of 6\.0 s, 3 over the load's 6\.0 s/);
    expect(m.background?.conntrack['insert_failed']).toBe(3);
  });
  it('a race count above the background stays reproduced, and the reason says the background moved', () => {
    // R: pbinom(39, 42, 0.5, lower.tail = FALSE) = 2.05545802601e-10.
    const m = withBackground(reproduced(40), { windowMs: 6000, conntrack: { insert_failed: 2 } });
    expect(m.verdict).toBe('reproduced');
    expect(m.reason).toMatch(/background: the host's own traffic moved insert_failed by \+2 .* the mode's \+40 is above that \(exact conditional binomial, one-sided p = 2\.06e-10\)/);
  });
  it("scales a window shorter than the load (capped at 30 s) to the load's length, and says the window's real length", () => {
    // 40 race drops in a 300 s load, 3 in the 30 s window: 30 expected over the load. R: pbinom(39, 43, 300/330,
    // lower.tail = FALSE) = 0.442745175617: not above the background. (Before: 40 > 3 stayed "reproduced", and the
    // window was said to be "as long as the load".)
    const m = withBackground({ ...reproduced(40), durationMs: 300_000 }, { windowMs: 30_000, conntrack: { insert_failed: 3, drop: 3 } });
    expect(backgroundTest('insert_failed', 40, 3, 300_000, 30_000).pValue).toBeCloseTo(0.442745175617, 9);
    expect(m.verdict).toBe('inconclusive');
    expect(m.reason).toContain("in an idle window of 30.0 s, 30 over the load's 300.0 s");
    expect(m.reason).not.toContain('as long as the load');
  });
  it('before 5.10 reads the window in the same unit as the mode: min(insert_failed, drop), not raw insert_failed', () => {
    // 3 genuine race drops (insert_failed 3, drop 3); the window saw 12 resolved UDP clashes (insert_failed +12, drop 0):
    // no race drop in the background, so the run stays reproduced. (Before: +12 > 3 made it inconclusive.)
    const pre = reproduced(3);
    const m = withBackground(pre, { windowMs: 6000, conntrack: { insert_failed: 12, drop: 0 } });
    expect(m.verdict).toBe('reproduced');
  });
  it("dns race-resolved: a clashres count within the window's (scaled) is not evidence that the mode raced", () => {
    // 5 resolved clashes in the mode, 5 in a window as long: R: pbinom(4, 10, 0.5, lower.tail = FALSE) = 0.623046875.
    const dns: ModeResult = {
      ...reproduced(0),
      attribution: { unit: 'lost-query', lostSyns: 0, conntrackRace: 0, serverOverload: 0, unexplained: 0 },
      counters: { conntrack: { insert_failed: 0, drop: 0, clashres: 5 }, clients: {}, server: {} },
      verdict: 'race-resolved',
      reason: 'the race happened and the kernel resolved it',
    };
    const m = withBackground(dns, { windowMs: 6000, conntrack: { clashres: 5 } });
    expect(m.verdict).toBe('inconclusive');
    expect(m.reason).toContain('moved clashres by +5');
    expect(m.reason).toContain('one-sided p = 0.623');
    // Far above the window's: still race-resolved. 3 in a 6 s load against 0 in a 30 s window:
    // R: pbinom(2, 3, 6/36, lower.tail = FALSE) = 0.00462962962963.
    expect(backgroundTest('clashres', 3, 0, 6000, 30_000).pValue).toBeCloseTo(0.00462962962963, 12);
    const far = withBackground({ ...dns, counters: { ...dns.counters, conntrack: { clashres: 120 } } }, { windowMs: 6000, conntrack: { clashres: 1 } });
    expect(far.verdict).toBe('race-resolved');
    expect(far.reason).toContain("the mode's +120 is above that");
  });
  it('a quiet background changes nothing but is recorded', () => {
    const base = reproduced(1);
    const m = withBackground(base, { windowMs: 6000, conntrack: {} });
    expect(m.verdict).toBe('reproduced');
    expect(m.reason).toBe(base.reason);
    expect(m.background).toEqual({ windowMs: 6000, conntrack: {} });
  });
});
