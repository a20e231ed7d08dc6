import { describe, expect, it } from 'vitest';
import { betaI, binomialTestCentral, binomialTestTwoSided, clopperPearson, fisherCentral, gammaP, logGamma, poissonInterval } from '../../src/analysis/exactStats.js';

describe('special functions', () => {
  it('log-gamma matches factorials', () => {
    expect(logGamma(1)).toBeCloseTo(0, 10);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 10);
    expect(logGamma(101)).toBeCloseTo(363.73937555556347, 8);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 10);
  });
  it('incomplete gamma and beta match closed forms', () => {
    for (const x of [0.1, 1, 3.5, 20]) expect(gammaP(1, x)).toBeCloseTo(1 - Math.exp(-x), 12);
    // P(2, x) = 1 - e^-x (1 + x)
    for (const x of [0.5, 2, 9]) expect(gammaP(2, x)).toBeCloseTo(1 - Math.exp(-x) * (1 + x), 12);
    for (const x of [0.01, 0.3, 0.9]) expect(betaI(x, 1, 1)).toBeCloseTo(x, 12);
    // I_x(2, 1) = x^2, I_x(1, 3) = 1 - (1 - x)^3
    expect(betaI(0.4, 2, 1)).toBeCloseTo(0.16, 12);
    expect(betaI(0.4, 1, 3)).toBeCloseTo(1 - 0.6 ** 3, 12);
  });
});

describe('exact Poisson (Garwood) intervals', () => {
  // Reference values: the standard table of exact 95 % Poisson limits (chi-square quantiles: qchisq(0.025, 2k)/2, qchisq(0.975, 2k+2)/2).
  const table: [number, number, number][] = [
    [0, 0, 3.688879],
    [1, 0.02531781, 5.571643],
    [3, 0.6186721, 8.767273],
    [10, 4.795389, 18.39036],
    [100, 81.363991, 121.626794],
  ];
  it.each(table)('count %i', (k, lo, hi) => {
    const ci = poissonInterval(k);
    expect(ci.lower).toBeCloseTo(lo, 4);
    expect(ci.upper).toBeCloseTo(hi, 4);
  });
  it('handles counts in the thousands', () => {
    const ci = poissonInterval(5000);
    expect(ci.lower).toBeGreaterThan(4860);
    expect(ci.lower).toBeLessThan(4870);
    expect(ci.upper).toBeGreaterThan(5135);
    expect(ci.upper).toBeLessThan(5145);
  });
});

describe('Clopper-Pearson intervals and the exact binomial test', () => {
  it('matches R binom.test intervals', () => {
    const a = clopperPearson(0, 10);
    expect(a.lower).toBe(0);
    expect(a.upper).toBeCloseTo(0.3084971, 5);
    const b = clopperPearson(5, 10);
    expect(b.lower).toBeCloseTo(0.187086, 5);
    expect(b.upper).toBeCloseTo(0.812914, 5);
    const c = clopperPearson(10, 10);
    expect(c.lower).toBeCloseTo(0.6915029, 5);
    expect(c.upper).toBe(1);
  });
  it('computes two-sided p-values as binom.test does', () => {
    expect(binomialTestTwoSided(3, 3, 0.5)).toBeCloseTo(0.25, 10);
    expect(binomialTestTwoSided(2, 10, 0.5)).toBeCloseTo(112 / 1024, 10);
    expect(binomialTestTwoSided(682, 925, 0.75)).toBeCloseTo(0.3825, 3);
    expect(binomialTestTwoSided(5, 10, 0.5)).toBeCloseTo(1, 10);
    expect(binomialTestTwoSided(0, 0, 0.5)).toBe(1);
  });
});

describe("the central tests and their inversions (one method behind each verdict and interval)", () => {
  it("the central binomial test is twice the smaller tail, not binom.test's minimum-likelihood p-value", () => {
    // R: 2 * pbinom(2, 3, 1/3, lower.tail = FALSE) = 0.0740740740741; binom.test(3, 3, 1/3)$p.value = 0.037037037037.
    expect(binomialTestCentral(3, 3, 1 / 3)).toBeCloseTo(0.0740740740741, 10);
    expect(binomialTestTwoSided(3, 3, 1 / 3)).toBeCloseTo(0.037037037037, 10);
    // R: 2 * pbinom(6, 7, 0.5, lower.tail = FALSE) = 0.015625.
    expect(binomialTestCentral(7, 7, 0.5)).toBeCloseTo(0.015625, 12);
    // A tail below what a double holds is 0 (printed "p < 1e-300"), never NaN.
    expect(binomialTestCentral(3746, 3746, 0.5)).toBe(0);
  });

  it("Fisher's exact test, central, with the conditional odds ratio and its interval (scipy and R)", () => {
    // scipy 1.17: scipy.stats.contingency.odds_ratio([[6, 0], [0, 6]], kind='conditional').confidence_interval(0.95)
    //   -> (3.523978831810232, inf); 2 * scipy.stats.fisher_exact([[6, 0], [0, 6]], alternative='greater')[1] = 0.0021645021645021645.
    // R 4.2: fisher.test(matrix(c(6, 0, 0, 6), 2)) -> conf.int 3.5238524 Inf (uniroot's tolerance), p-value 0.0021645021645.
    const a = fisherCentral(6, 6, 0, 6);
    expect(a.pValue).toBeCloseTo(0.0021645021645021645, 12);
    expect(a.lower / 3.523978831810232).toBeCloseTo(1, 5);
    expect(a.upper).toBe(Infinity);
    expect(a.oddsRatio).toBe(Infinity);
    // scipy: odds_ratio([[3, 7], [10, 2]], kind='conditional') -> statistic 0.0987494222892314,
    //   confidence_interval(0.95) -> (0.006488189661355519, 0.875478967644358);
    //   2 * min(fisher_exact(t, alternative='less')[1], fisher_exact(t, alternative='greater')[1]) = 0.034055727554179564.
    // R: min(1, 2 * min(phyper(3, 10, 12, 13), phyper(2, 10, 12, 13, lower.tail = FALSE))) = 0.0340557275542
    //   (fisher.test's own p-value, minimum-likelihood, is 0.02742149491375).
    const b = fisherCentral(3, 10, 10, 12);
    expect(b.pValue).toBeCloseTo(0.034055727554179564, 12);
    expect(b.oddsRatio / 0.0987494222892314).toBeCloseTo(1, 5);
    expect(b.lower / 0.006488189661355519).toBeCloseTo(1, 5);
    expect(b.upper / 0.875478967644358).toBeCloseTo(1, 5);
  });
});
