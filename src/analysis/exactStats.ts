/**
 * Exact small-count statistics, written out so the numbers in a report can be checked against any textbook table:
 * Poisson (Garwood) intervals for a count, Clopper-Pearson intervals for a binomial proportion, and the exact
 * two-sided binomial test. Race drops are rare events (a handful per 100 000 attempts), where normal approximations
 * are wrong; these are exact. Special functions follow Numerical Recipes (Lanczos log-gamma, series and continued
 * fractions for the regularized incomplete gamma and beta functions).
 */

const LANCZOS = [
  676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = 0.99999999999980993;
  const t = z + 7.5;
  LANCZOS.forEach((c, i) => (a += c / (z + i + 1)));
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 1e-14;
const TINY = 1e-300;
const MAX_ITER = 10_000;

/** Regularized lower incomplete gamma P(a, x). */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < MAX_ITER; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPS) break;
    }
    return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
  }
  return 1 - gammaQContinuedFraction(a, x);
}

function gammaQContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Regularized incomplete beta I_x(a, b). */
export function betaI(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/** The x in [lo, hi] where the increasing function f crosses target, by bisection (to relative 1e-12). */
function solveIncreasing(f: (x: number) => number, target: number, lo: number, hi: number): number {
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < target) lo = mid;
    else hi = mid;
    if (hi - lo <= 1e-12 * Math.max(1e-300, hi)) break;
  }
  return (lo + hi) / 2;
}

export interface Interval {
  lower: number;
  upper: number;
}

/**
 * Exact (Garwood) interval for the mean of a Poisson count: the lower bound is the mean at which seeing `count`
 * or more has probability alpha/2, the upper the mean at which seeing `count` or fewer has probability alpha/2.
 */
export function poissonInterval(count: number, confidence = 0.95): Interval {
  const tail = (1 - confidence) / 2;
  const hi = count + 20 + 10 * Math.sqrt(count + 1);
  // P(X >= k | mu) = P(k, mu) (regularized lower gamma), increasing in mu.
  const lower = count === 0 ? 0 : solveIncreasing((mu) => gammaP(count, mu), tail, 0, hi);
  // P(X <= k | mu) = 1 - P(k + 1, mu): solve P(k + 1, mu) = 1 - tail.
  const upper = solveIncreasing((mu) => gammaP(count + 1, mu), 1 - tail, 0, hi);
  return { lower, upper };
}

/** Exact (Clopper-Pearson) interval for a binomial proportion: `successes` of `trials`. */
export function clopperPearson(successes: number, trials: number, confidence = 0.95): Interval {
  if (trials <= 0) return { lower: 0, upper: 1 };
  const tail = (1 - confidence) / 2;
  const k = successes;
  const n = trials;
  // P(X >= k | p) = I_p(k, n - k + 1), increasing in p.
  const lower = k === 0 ? 0 : solveIncreasing((p) => betaI(p, k, n - k + 1), tail, 0, 1);
  // P(X <= k | p) = 1 - I_p(k + 1, n - k): solve I_p(k + 1, n - k) = 1 - tail.
  const upper = k === n ? 1 : solveIncreasing((p) => betaI(p, k + 1, n - k), 1 - tail, 0, 1);
  return { lower, upper };
}

function logBinomialPmf(k: number, n: number, p: number): number {
  if (p <= 0) return k === 0 ? 0 : -Infinity;
  if (p >= 1) return k === n ? 0 : -Infinity;
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log(1 - p);
}

/**
 * Exact two-sided binomial test of H0: proportion = p0, as R's binom.test computes it: the probability,
 * under H0, of every outcome no more likely than the one observed.
 */
export function binomialTestTwoSided(successes: number, trials: number, p0: number): number {
  if (trials <= 0) return 1;
  const observed = logBinomialPmf(successes, trials, p0);
  const slack = Math.log(1 + 1e-7);
  let p = 0;
  for (let i = 0; i <= trials; i++) {
    const l = logBinomialPmf(i, trials, p0);
    if (l <= observed + slack) p += Math.exp(l);
  }
  return Math.min(1, p);
}

/** P(X <= k) for X ~ Binomial(n, p) (1 - I_p(k + 1, n - k)). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  return 1 - betaI(p, k + 1, n - k);
}

/** P(X >= k) for X ~ Binomial(n, p) (I_p(k, n - k + 1)), computed directly so a tiny tail is not lost to 1 - x. */
export function binomialSf(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  return betaI(p, k, n - k + 1);
}

/**
 * The central exact two-sided binomial test: twice the smaller tail (R: `min(1, 2 * min(pbinom(x, n, p0),
 * pbinom(x - 1, n, p0, lower.tail = FALSE)))`). Its inversion is the Clopper-Pearson interval, so p < alpha exactly
 * when the 1 - alpha interval excludes p0; the minimum-likelihood test (binom.test's p-value) has no such interval.
 */
export function binomialTestCentral(successes: number, trials: number, p0: number): number {
  if (trials <= 0) return 1;
  return Math.min(1, 2 * Math.min(binomialCdf(successes, trials, p0), binomialSf(successes, trials, p0)));
}

function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * Fisher's noncentral hypergeometric law of x1 given the margins of a 2x2 table: x1 successes of n1, x2 of n2,
 * m = x1 + x2 in all, odds ratio psi. Tails are computed in logs (a tail below 1e-300 is 0, never NaN).
 */
class ConditionalTable {
  readonly lo: number;
  readonly hi: number;
  private readonly base: number[];
  constructor(readonly n1: number, readonly n2: number, readonly m: number) {
    this.lo = Math.max(0, m - n2);
    this.hi = Math.min(m, n1);
    this.base = Array.from({ length: this.hi - this.lo + 1 }, (_, i) => logChoose(n1, this.lo + i) + logChoose(n2, m - this.lo - i));
  }
  private weights(logPsi: number): number[] {
    const w = this.base.map((b, i) => b + (this.lo + i) * logPsi);
    const top = Math.max(...w);
    return w.map((l) => Math.exp(l - top));
  }
  /** P(X >= x | psi) and P(X <= x | psi). */
  tails(x: number, logPsi: number): { upper: number; lower: number } {
    const w = this.weights(logPsi);
    const total = w.reduce((s, v) => s + v, 0);
    let upper = 0;
    let lower = 0;
    w.forEach((v, i) => {
      if (this.lo + i >= x) upper += v;
      if (this.lo + i <= x) lower += v;
    });
    return { upper: upper / total, lower: lower / total };
  }
  mean(logPsi: number): number {
    const w = this.weights(logPsi);
    const total = w.reduce((s, v) => s + v, 0);
    return w.reduce((s, v, i) => s + v * (this.lo + i), 0) / total;
  }
}

export interface FisherResult {
  /** Central two-sided p-value: twice the smaller conditional tail at odds ratio 1. */
  pValue: number;
  /** Conditional maximum-likelihood odds ratio (R's fisher.test estimate); Infinity when x1 is at its maximum. */
  oddsRatio: number;
  /** The inversion of the same central test (R's fisher.test conf.int); upper Infinity when x1 is at its maximum. */
  lower: number;
  upper: number;
}

/** Solve an increasing function of log psi for target by bisection over [-200, 200]. */
function solveLogPsi(f: (t: number) => number, target: number): number {
  let lo = -200;
  let hi = 200;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Fisher's exact test of two proportions, central form: x1 of n1 against x2 of n2. The p-value and the odds ratio's
 * interval come from the same conditional tails, so p < 1 - confidence exactly when the interval excludes 1.
 * (R's fisher.test prints this interval but a minimum-likelihood p-value; they can disagree, this cannot.)
 */
export function fisherCentral(x1: number, n1: number, x2: number, n2: number, confidence = 0.95): FisherResult {
  const t = new ConditionalTable(n1, n2, x1 + x2);
  const tail = (1 - confidence) / 2;
  if (t.lo === t.hi) return { pValue: 1, oddsRatio: NaN, lower: 0, upper: Infinity };
  const at1 = t.tails(x1, 0);
  const pValue = Math.min(1, 2 * Math.min(at1.upper, at1.lower));
  const lower = x1 <= t.lo ? 0 : Math.exp(solveLogPsi((l) => t.tails(x1, l).upper, tail));
  // P(X <= x | psi) decreases in psi: solve 1 - P(X <= x) = 1 - tail on an increasing function.
  const upper = x1 >= t.hi ? Infinity : Math.exp(solveLogPsi((l) => 1 - t.tails(x1, l).lower, 1 - tail));
  const oddsRatio = x1 <= t.lo ? 0 : x1 >= t.hi ? Infinity : Math.exp(solveLogPsi((l) => t.mean(l), x1));
  return { pValue, oddsRatio, lower, upper };
}
