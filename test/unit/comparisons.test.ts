import { describe, expect, it } from 'vitest';
import { attemptsToSettle, compareCounts, compareModes, decide, settleProbability, SETTLE_POWER } from '../../src/analysis/comparisons.js';
import { logGamma } from '../../src/analysis/exactStats.js';
import { withStatistics } from '../../src/analysis/runStatistics.js';
import { makeMode, makeResult } from './fixtures/results.js';
import { modeRates, proportionOf, rateOf } from '../../src/analysis/rates.js';

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

describe('one test behind each verdict and the interval printed beside it', () => {
  const agrees = (d: ReturnType<typeof decide>): boolean => {
    const { lower, upper } = d.rateRatio;
    if (d.verdict === 'worse') return lower > 1;
    if (d.verdict === 'better') return upper !== null && upper < 1;
    // Neither: the interval holds 1.
    return lower <= 1 && (upper === null || upper >= 1);
  };

  it('over a 0-30 x 0-30 grid with unequal attempts, a verdict and its interval never disagree', () => {
    for (const [nb, nc] of [[100_000, 50_000], [50_000, 100_000], [150_000, 7_000], [20_000, 20_000]] as const) {
      const bad: string[] = [];
      for (let xb = 0; xb <= 30; xb++) {
        for (let xc = 0; xc <= 30; xc++) {
          const d = decide({ baselineCount: xb, baselineAttempts: nb, candidateCount: xc, candidateAttempts: nc });
          if (!agrees(d)) bad.push(`${xc}/${nc} vs ${xb}/${nb}: ${d.verdict} p=${d.pValue} CI ${d.rateRatio.lower}-${d.rateRatio.upper}`);
        }
      }
      expect(bad).toEqual([]);
    }
  });

  it('the same for proportions (Fisher): a 0-30 x 0-30 grid of 30 and 40 trials', () => {
    const bad: string[] = [];
    for (let xb = 0; xb <= 30; xb++) {
      for (let xc = 0; xc <= 30; xc++) {
        const d = decide({ baselineCount: xb, baselineAttempts: 40, candidateCount: xc, candidateAttempts: 30 }, true);
        if (!agrees(d)) bad.push(`${xc}/30 vs ${xb}/40: ${d.verdict} p=${d.pValue} CI ${d.rateRatio.lower}-${d.rateRatio.upper}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('3 in 50 000 vs 0 in 100 000 is not "worse": the central test (R: 2 * pbinom(2, 3, 1/3, lower.tail = FALSE) = 0.0741) holds 1 in its interval', () => {
    const c = compareCounts('none', 'random', 'race', { baselineCount: 0, baselineAttempts: 100_000, candidateCount: 3, candidateAttempts: 50_000 });
    expect(c.verdict).toBe('inconclusive');
    expect(c.pValue).toBeCloseTo(0.07407, 5);
    // Clopper-Pearson lower bound of 3 of 3 is 0.025^(1/3) = 0.29240 (R: binom.test(3, 3)$conf.int[1]); x 2 / (1 - it) = 0.8265.
    expect(c.rateRatio.lower).toBeCloseTo(0.8265, 4);
    expect(c.rateRatio.upper).toBeNull();
    expect(c.reason).toContain('exact conditional binomial test (central) p = 0.07407');
  });
});

describe('a stall is one event: modes are compared on attempts, not lost SYNs', () => {
  it('one timed-out connect (7 lost SYNs) against none in 150 000 each is not "worse"', () => {
    // Before: 7 lost SYNs against 0, p = 2 x 0.5^7 = 0.0156 (R: 2 * pbinom(6, 7, 0.5, lower.tail = FALSE)), "worse".
    const none = makeMode({ mode: 'none', attempts: 150_000 });
    const stalled = makeMode({ mode: 'random', attempts: 150_000 });
    stalled.failures = { ETIMEDOUT: 1 };
    stalled.failed = 1;
    stalled.attribution = { unit: 'lost-syn', lostSyns: 7, conntrackRace: 0, serverOverload: 0, unexplained: 7, stalled: 1, raceStalled: 0, neverRetransmitted: 1 };
    const lost = compareModes([none, stalled]).find((c) => c.metric === 'lost');
    expect(lost).toMatchObject({ candidateCount: 1, baselineCount: 0, verdict: 'inconclusive', pValue: 1 });
    expect(modeRates(stalled).find((r) => r.metric === 'lost')?.description).toBe('attempts with a confirmed loss (they lost 7 SYNs in all)');
  });

  it('dns is compared on lookups, not queries', () => {
    const base = makeMode({ mode: 'none', attempts: 10_000 });
    const m = { ...makeMode({ mode: 'dns', attempts: 10_000 }), attribution: { unit: 'lost-query' as const, lostSyns: 6, conntrackRace: 6, serverOverload: 0, unexplained: 0, stalled: 3, raceStalled: 3 } };
    const race = compareModes([{ ...base, attribution: { ...base.attribution, unit: 'lost-query' as const, stalled: 0, raceStalled: 0 } }, m]).find((c) => c.metric === 'race');
    expect(race?.candidateCount).toBe(3);
    expect(modeRates(m).find((r) => r.metric === 'race')?.description).toContain('lookups');
  });
});

describe('double_snat is a proportion', () => {
  it('4 of 4 outer flows: Clopper-Pearson 39.76-100 %, not a Poisson 27 250-256 000 per 100 000', () => {
    // R: binom.test(4, 4)$conf.int = 0.397635364384 1; scipy.stats.beta.ppf(0.025, 4, 1) = 0.3976353643835253.
    const r = proportionOf(4, 4, 'double_snat');
    expect(r.per100k).toBe(100_000);
    expect(r.lower).toBe(39_760);
    expect(r.upper).toBe(100_000);
    expect(r.interval).toBe('clopper-pearson');
  });

  it("is compared by Fisher's exact test: 6 of 6 vs 0 of 6 is p = 0.0022, not the Poisson test's 0.031", () => {
    // R: fisher.test(matrix(c(6, 0, 0, 6), 2))$p.value = 0.0021645021645 (central and minimum-likelihood agree here).
    const c = compareCounts('legacy', 'patched', 'double_snat', { baselineCount: 6, baselineAttempts: 6, candidateCount: 0, candidateAttempts: 6 });
    expect(c.pValue).toBe(0.002165);
    expect(c.verdict).toBe('better');
    expect(c.measure).toBe('odds ratio');
    expect(c.rateRatio.upper).toBeLessThan(1);
    expect(c.reason).toContain("Fisher's exact test (central) p = 0.002165");
  });
});

describe('p-values below what a double holds', () => {
  it('print as "p < 1e-300", never "p = 0" (a burst run: thousands of race drops against none)', () => {
    // 2 x 0.5^3000 underflows a double (R: 2 * pbinom(2999, 3000, 0.5, lower.tail = FALSE) is 0 too).
    const c = compareCounts('none', 'random-fully', 'race', pair(3000, 0, 150_000));
    expect(c.verdict).toBe('better');
    expect(c.pValue).toBe(0);
    expect(c.reason).toContain('p < 1e-300');
    expect(c.reason).not.toMatch(/p = 0\b/);
  });
});
