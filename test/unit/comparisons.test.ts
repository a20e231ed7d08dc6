import { describe, expect, it } from 'vitest';
import { attemptsToSettle, compareCounts, decide } from '../../src/analysis/comparisons.js';
import { rateOf } from '../../src/analysis/rates.js';

const pair = (xb: number, xc: number, n = 20_000) => ({ baselineCount: xb, baselineAttempts: n, candidateCount: xc, candidateAttempts: n });

describe('rates per 100 000 attempts', () => {
  it('scales the exact Poisson interval', () => {
    const r = rateOf(3, 60_000, 'race');
    expect(r.per100k).toBe(5);
    expect(r.lower).toBeCloseTo(1.031, 3);
    expect(r.upper).toBeCloseTo(14.61, 2);
    expect(rateOf(0, 60_000).upper).toBeCloseTo(6.148, 3);
  });
});

describe('comparing two modes', () => {
  it('6 vs 0 events in equal attempts is significant (p = 2 * 0.5^6)', () => {
    const d = decide(pair(6, 0), 5);
    expect(d.pValue).toBeCloseTo(0.03125, 6);
    expect(d.verdict).toBe('better');
    expect(d.rateRatio.estimate).toBe(0);
    expect(d.rateRatio.lower).toBe(0);
    expect(d.rateRatio.upper).toBeGreaterThan(0.5);
    expect(d.rateRatio.upper).toBeLessThan(0.9);
    expect(decide(pair(0, 6), 5).verdict).toBe('worse');
  });
  it('3 vs 0 is inconclusive and about twice the attempts would settle it', () => {
    const c = compareCounts('none', 'random-fully', 'race', pair(3, 0), 5);
    expect(c.verdict).toBe('inconclusive');
    expect(c.pValue).toBeCloseTo(0.25, 6);
    expect(c.attemptsToSettle).toBe(40_000);
    expect(c.reason).toContain('about 40,000 attempts per side');
  });
  it('0 vs 0 is no difference only once both upper bounds are below the detect rate', () => {
    expect(decide(pair(0, 0, 60_000), 5).verdict).toBe('inconclusive');
    expect(attemptsToSettle(pair(0, 0, 60_000), 5)).toBe(75_000);
    const c = compareCounts('none', 'random', 'race', pair(0, 0, 80_000), 5);
    expect(c.verdict).toBe('no difference');
    expect(c.reason).toContain('below 5 per 100 000');
    expect(c.rateRatio).toEqual({ estimate: null, lower: 0, upper: null });
  });
  it('large similar counts are no difference by the ratio interval', () => {
    const c = compareCounts('none', 'random', 'stalls', pair(500, 510), 5);
    expect(c.verdict).toBe('no difference');
    expect(c.rateRatio.lower).toBeGreaterThan(0.85);
    expect(c.rateRatio.upper).toBeLessThan(1.2);
    expect(c.rateRatio.estimate).toBe(1.02);
  });
  it('unequal attempts are weighed by exposure', () => {
    // 4 events in 10 000 vs 4 in 40 000: the candidate's rate is a quarter, not equal.
    const d = decide({ baselineCount: 4, baselineAttempts: 10_000, candidateCount: 4, candidateAttempts: 40_000 }, 5);
    expect(d.rateRatio.estimate).toBe(0.25);
    expect(d.pValue).toBeLessThan(0.2);
  });
});
