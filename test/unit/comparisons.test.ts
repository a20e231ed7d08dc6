import { describe, expect, it } from 'vitest';
import { attemptsToSettle, compareCounts, decide, settleProbability, SETTLE_POWER } from '../../src/analysis/comparisons.js';
import { logGamma } from '../../src/analysis/exactStats.js';
import { withStatistics } from '../../src/analysis/runStatistics.js';
import { makeResult } from './fixtures/results.js';
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
    const d = decide(pair(6, 0));
    expect(d.pValue).toBeCloseTo(0.03125, 6);
    expect(d.verdict).toBe('better');
    expect(d.rateRatio.estimate).toBe(0);
    expect(d.rateRatio.lower).toBe(0);
    expect(d.rateRatio.upper).toBeGreaterThan(0.5);
    expect(d.rateRatio.upper).toBeLessThan(0.9);
    expect(decide(pair(0, 6)).verdict).toBe('worse');
  });
  it('3 vs 0 is inconclusive; the attempts that settle it with 80 % probability follow from a chi-square table', () => {
    const c = compareCounts('none', 'random-fully', 'race', pair(3, 0));
    expect(c.verdict).toBe('inconclusive');
    expect(c.pValue).toBeCloseTo(0.25, 6);
    // With the candidate at rate 0, a run settles only when the baseline reaches 6 events (2 x 0.5^6 < 0.05 < 2 x 0.5^5).
    // P(Poisson(mu) >= 6) = 0.8 at mu = qchisq(0.80, 12) / 2 = 15.8119 / 2 = 7.906 (any chi-square table, R's qchisq):
    // 7.906 / 3 x 20 000 = 52 706 per side -> 53 000 at two significant digits.
    expect(SETTLE_POWER).toBe(0.8);
    expect(settleProbability(pair(3, 0), 15.8119 / 2 / 3)).toBeCloseTo(0.8, 3);
    expect(c.attemptsToSettle).toBe(53_000);
    expect(c.settlePower).toBe(0.8);
    expect(c.reason).toContain('about 53,000 attempts per side would settle it with 80 % probability');
  });

  it('the settle probability is the sum over both Poisson counts of the decision rule (brute force)', () => {
    const c = pair(2, 6, 10_000);
    const scale = 1.7;
    const pois = (k: number, mu: number): number => Math.exp(k * Math.log(mu) - mu - logGamma(k + 1));
    let direct = 0;
    for (let xb = 0; xb < 40; xb++) {
      for (let xc = 0; xc < 60; xc++) {
        const d = decide({ baselineCount: xb, baselineAttempts: 10_000, candidateCount: xc, candidateAttempts: 10_000 });
        if (d.verdict !== 'inconclusive') direct += pois(xb, 2 * scale) * pois(xc, 6 * scale);
      }
    }
    expect(settleProbability(c, scale)).toBeCloseTo(direct, 6);
  });

  it('0 vs 0 is never "no difference", and no number of attempts of the same load settles it', () => {
    expect(decide(pair(0, 0, 60_000)).verdict).toBe('inconclusive');
    expect(attemptsToSettle(pair(0, 0, 60_000)).attempts).toBeNull();
    const c = compareCounts('none', 'random', 'race', pair(0, 0, 80_000), { settleHint: '`--load burst`' });
    expect(c.verdict).toBe('inconclusive');
    expect(c.attemptsToSettle).toBeNull();
    expect(c.settleHint).toBe('`--load burst`');
    expect(c.reason).toContain('`--load burst` would settle it');
    expect(c.rateRatio).toEqual({ estimate: null, lower: 0, upper: null });
  });

  it('2 vs 0 in 150 000 each is not "no difference": both upper bounds under --detect-rate prove no equality', () => {
    // Two-sided 95 % upper bounds: 7.22 / 1.5 = 4.82 and 3.69 / 1.5 = 2.46 per 100 000, both under the run's --detect-rate 5.
    const r = withStatistics(makeResult([{ mode: 'none', attempts: 150_000, race: 2 }, { mode: 'random', attempts: 150_000 }]));
    const race = r.comparisons?.find((c) => c.metric === 'race');
    expect(race?.verdict).toBe('inconclusive');
    expect(race?.reason).not.toContain('below 5 per 100 000');
  });

  it('large similar counts are no difference by the ratio interval', () => {
    const c = compareCounts('none', 'random', 'stalls', pair(500, 510));
    expect(c.verdict).toBe('no difference');
    expect(c.rateRatio.lower).toBeGreaterThan(0.85);
    expect(c.rateRatio.upper).toBeLessThan(1.2);
    expect(c.rateRatio.estimate).toBe(1.02);
  });
  it('unequal attempts are weighed by exposure', () => {
    // 4 events in 10 000 vs 4 in 40 000: the candidate's rate is a quarter, not equal.
    const d = decide({ baselineCount: 4, baselineAttempts: 10_000, candidateCount: 4, candidateAttempts: 40_000 });
    expect(d.rateRatio.estimate).toBe(0.25);
    expect(d.pValue).toBeLessThan(0.2);
  });
});
