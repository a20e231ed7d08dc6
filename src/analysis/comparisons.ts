import { betaI, binomialTestTwoSided, clopperPearson, logGamma } from './exactStats.js';
import { CONFIDENCE, metricExposure, round } from './rates.js';
import type { Comparison, ComparisonVerdict, ModeResult } from '../types.js';

/** Significance level of the exact test (two-sided), matching the 95 % intervals. */
export const ALPHA = 1 - CONFIDENCE;
/**
 * The equivalence margin: "no difference" needs the whole 95 % interval of the rate ratio inside [1/2, 2]. Nothing
 * else gives it: two rates both under --detect-rate are not shown equal by that (2 vs 0 in 150 000 is not).
 */
export const EQUIVALENCE_RATIO = 2;
/** The probability "attempts to settle" aims for: a repeat run at that size settles the comparison this often. */
export const SETTLE_POWER = 0.8;
/**
 * Metrics a comparison covers, the first decides the headline: losses the race counter explains, and all
 * confirmed losses (raw stalls are not compared: under load, scheduling delays land in the bands too).
 */
export const COMPARED_METRICS = ['race', 'lost'] as const;
/** vxlan compares what it tests: the share of outer flows masqueraded twice, and the packets that cost. */
export const VXLAN_COMPARED_METRICS = ['double_snat', 'drops'] as const;
/** How far "attempts to settle" looks: up to this many times the attempts made. */
const MAX_SCALE = 1000;
/** Beyond this many events in all, the exact settle computation stops (it is then reported out of reach). */
const MAX_EVENTS = 20_000;

/** The metrics compared between these modes: vxlan's when the modes carry vxlan evidence. */
export function comparedMetrics(modes: readonly ModeResult[]): readonly string[] {
  return modes.length > 0 && modes.every((m) => m.vxlan) ? VXLAN_COMPARED_METRICS : COMPARED_METRICS;
}

export interface CountPair {
  baselineCount: number;
  baselineAttempts: number;
  candidateCount: number;
  candidateAttempts: number;
}

interface Decision {
  verdict: ComparisonVerdict;
  pValue: number;
  rateRatio: Comparison['rateRatio'];
}

/** The rate ratio's odds mapping: pi (the candidate's share of all events) -> rC/rB. */
function oddsToRatio(p: number, c: CountPair): number {
  return (p / (1 - p)) * (c.baselineAttempts / c.candidateAttempts);
}

/** pi at which the rate ratio equals r. */
function ratioToPi(r: number, c: CountPair): number {
  const q = (r * c.candidateAttempts) / c.baselineAttempts;
  return q / (1 + q);
}

/**
 * The rate ratio and the exact conditional test for two Poisson counts: given the total m of both counts,
 * the candidate's count is Binomial(m, pi) with pi = nC*rC / (nC*rC + nB*rB); equal rates mean
 * pi0 = nC / (nC + nB). A Clopper-Pearson interval for pi maps to the rate ratio rC/rB = pi/(1-pi) * nB/nC.
 */
export function decide(c: CountPair): Decision {
  const { baselineCount: xb, baselineAttempts: nb, candidateCount: xc, candidateAttempts: nc } = c;
  const m = xb + xc;
  if (m === 0 || nb <= 0 || nc <= 0) {
    return { verdict: 'inconclusive', pValue: 1, rateRatio: { estimate: null, lower: 0, upper: null } };
  }
  const pi = clopperPearson(xc, m, CONFIDENCE);
  const rateRatio = {
    estimate: xb === 0 ? null : round((xc / nc) / (xb / nb)),
    lower: round(oddsToRatio(pi.lower, c)),
    upper: pi.upper >= 1 ? null : round(oddsToRatio(pi.upper, c)),
  };
  const pValue = binomialTestTwoSided(xc, m, nc / (nc + nb));
  let verdict: ComparisonVerdict;
  if (pValue < ALPHA) verdict = xc / nc < xb / nb ? 'better' : 'worse';
  else verdict = withinMargin(pi.lower, pi.upper, c) ? 'no difference' : 'inconclusive';
  return { verdict, pValue: round(pValue), rateRatio };
}

function withinMargin(piLower: number, piUpper: number, c: CountPair): boolean {
  return piUpper < 1 && piLower >= ratioToPi(1 / EQUIVALENCE_RATIO, c) && piUpper <= ratioToPi(EQUIVALENCE_RATIO, c);
}

/** Which candidate counts x of a total m the decision rule settles (a verdict other than inconclusive). */
function settledCounts(m: number, c: CountPair): (x: number) => boolean {
  const p0 = c.candidateAttempts / (c.candidateAttempts + c.baselineAttempts);
  // Two-sided p-values (R's binom.test): for each x, the H0 mass of outcomes no more likely than x.
  const logPmf = Array.from({ length: m + 1 }, (_, x) =>
    logGamma(m + 1) - logGamma(x + 1) - logGamma(m - x + 1) + x * Math.log(p0) + (m - x) * Math.log(1 - p0));
  const sorted = logPmf.map((l) => Math.exp(l)).sort((a, b) => a - b);
  const prefix: number[] = [];
  sorted.reduce((s, v, i) => (prefix[i] = s + v), 0);
  const slack = 1 + 1e-7;
  const pValue = (x: number): number => {
    const bound = Math.exp(logPmf[x] ?? -Infinity) * slack;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] ?? Infinity) <= bound) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : Math.min(1, prefix[lo - 1] ?? 0);
  };
  // The equivalence set is an interval: the Clopper-Pearson bounds both increase with x.
  const piLo = ratioToPi(1 / EQUIVALENCE_RATIO, c);
  const piHi = ratioToPi(EQUIVALENCE_RATIO, c);
  const firstAtLeast = (f: (x: number) => boolean): number => {
    let lo = 0;
    let hi = m + 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (f(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const b = firstAtLeast((x) => clopperPearson(x, m, CONFIDENCE).lower >= piLo);
  const cEnd = firstAtLeast((x) => clopperPearson(x, m, CONFIDENCE).upper > piHi) - 1;
  return (x) => pValue(x) < ALPHA || (x >= b && x <= cEnd);
}

function poissonPmf(k: number, mu: number): number {
  if (mu <= 0) return k === 0 ? 1 : 0;
  return Math.exp(k * Math.log(mu) - mu - logGamma(k + 1));
}

/** P(X <= k) for X ~ Binomial(m, p). */
function binomialCdf(k: number, m: number, p: number): number {
  if (k < 0) return 0;
  if (k >= m) return 1;
  return 1 - betaI(p, k + 1, m - k);
}

/**
 * The probability that a run of `scale` times these attempts settles the comparison (better, worse or no difference),
 * if the true rates are the ones observed: the counts are Poisson(scale x observed), and given their total m the
 * candidate's count is Binomial(m, pi) with pi its observed share. Exact sum over m.
 */
export function settleProbability(c: CountPair, scale = 1, cache = new Map<number, (x: number) => boolean>()): number {
  const mu = scale * (c.baselineCount + c.candidateCount);
  if (mu <= 0) return 0;
  const pi = c.candidateCount / (c.baselineCount + c.candidateCount);
  const lo = Math.max(0, Math.floor(mu - 10 * Math.sqrt(mu) - 10));
  const hi = Math.ceil(mu + 10 * Math.sqrt(mu) + 10);
  let p = 0;
  for (let m = lo; m <= hi; m++) {
    const w = poissonPmf(m, mu);
    if (w < 1e-15 || m === 0) continue;
    let settled = cache.get(m);
    if (!settled) {
      settled = settledCounts(m, c);
      cache.set(m, settled);
    }
    // Sum the binomial mass over the settled x, as runs of consecutive x.
    let mass = 0;
    let runStart = -1;
    for (let x = 0; x <= m + 1; x++) {
      const inSet = x <= m && settled(x);
      if (inSet && runStart < 0) runStart = x;
      if (!inSet && runStart >= 0) {
        mass += binomialCdf(x - 1, m, pi) - binomialCdf(runStart - 1, m, pi);
        runStart = -1;
      }
    }
    p += w * mass;
  }
  return Math.min(1, p);
}

export interface SettleEstimate {
  /** Attempts per side (two significant digits, rounded up); null when out of reach or zero against zero. */
  attempts: number | null;
  power: number;
}

/**
 * Attempts per side at which a repeat run, with the rates observed here, settles the comparison with probability
 * SETTLE_POWER (80 %). Zero against zero has no rate to scale: nothing settles it by size alone (null).
 */
export function attemptsToSettle(c: CountPair, power = SETTLE_POWER): SettleEstimate {
  const total = c.baselineCount + c.candidateCount;
  if (total === 0 || c.baselineAttempts <= 0 || c.candidateAttempts <= 0) return { attempts: null, power };
  const cache = new Map<number, (x: number) => boolean>();
  const enough = (s: number): boolean => settleProbability(c, s, cache) >= power;
  let lo = 1;
  if (!enough(lo)) {
    let hi = lo * 1.25;
    while (!enough(hi)) {
      lo = hi;
      hi *= 1.25;
      if (hi > MAX_SCALE || hi * total > MAX_EVENTS) return { attempts: null, power };
    }
    for (let i = 0; i < 30 && hi - lo > 1e-3 * hi; i++) {
      const mid = (lo + hi) / 2;
      if (enough(mid)) hi = mid;
      else lo = mid;
    }
    lo = hi;
  }
  return { attempts: roundUp2(lo * Math.max(c.baselineAttempts, c.candidateAttempts)), power };
}

/** Round up to two significant digits (an estimate, not a promise). */
function roundUp2(n: number): number {
  const p = 10 ** Math.max(0, Math.floor(Math.log10(n)) - 1);
  return Math.ceil(n / p) * p;
}

function fmtRatio(r: Comparison['rateRatio'], c: CountPair): string {
  const est = r.estimate === null ? (c.candidateCount > 0 ? '∞' : '–') : String(r.estimate);
  return `rate ratio ${est} (95 % CI ${r.lower}–${r.upper === null ? '∞' : r.upper})`;
}

function int(n: number): string {
  return n.toLocaleString('en-US');
}

export interface CompareOptions {
  /** What would settle a zero-against-zero comparison (e.g. a load that provokes the race); a generic sentence when absent. */
  settleHint?: string;
}

const DEFAULT_SETTLE_HINT = 'a load that provokes the race';

/** Pure: one metric of a candidate against a baseline, with its verdict and the sentence that explains it. */
export function compareCounts(baseline: string, candidate: string, metric: string, c: CountPair, opts: CompareOptions = {}): Comparison {
  const d = decide(c);
  const bothZero = c.baselineCount === 0 && c.candidateCount === 0;
  const settle = d.verdict === 'inconclusive' && !bothZero ? attemptsToSettle(c) : null;
  const hint = bothZero && d.verdict === 'inconclusive' ? opts.settleHint ?? DEFAULT_SETTLE_HINT : null;
  const facts =
    `${metric}: ${int(c.candidateCount)} in ${int(c.candidateAttempts)} (${candidate}) vs ${int(c.baselineCount)} in ${int(c.baselineAttempts)} (${baseline}); ` +
    `${fmtRatio(d.rateRatio, c)}; exact test p = ${d.pValue}`;
  let why: string;
  switch (d.verdict) {
    case 'better':
      why = `${candidate} has a lower ${metric} rate than ${baseline}`;
      break;
    case 'worse':
      why = `${candidate} has a higher ${metric} rate than ${baseline}`;
      break;
    case 'no difference':
      why = `the rates are within a factor ${EQUIVALENCE_RATIO} of each other (the rate ratio's 95 % interval lies inside [1/${EQUIVALENCE_RATIO}, ${EQUIVALENCE_RATIO}])`;
      break;
    default:
      if (hint !== null) why = `not settled: 0 against 0 gives no rate that more attempts of the same load would grow; ${hint} would settle it`;
      else if (settle?.attempts == null) why = `not settled; more than ${MAX_SCALE}x these attempts (or ${int(MAX_EVENTS)} events) would be needed`;
      else why = `not settled; about ${int(settle.attempts)} attempts per side would settle it with ${SETTLE_POWER * 100} % probability at the rates seen`;
  }
  return {
    baseline,
    candidate,
    metric,
    ...c,
    rateRatio: d.rateRatio,
    pValue: d.pValue,
    verdict: d.verdict,
    reason: `${why} (${facts})`,
    attemptsToSettle: settle?.attempts ?? null,
    ...(settle ? { settlePower: settle.power } : {}),
    ...(hint !== null ? { settleHint: hint } : {}),
  };
}

export function metricCount(m: ModeResult, metric: string): number {
  return metricExposure(m, metric).count;
}

/** Pure: every later mode against the first mode (the baseline, e.g. `none`), for each compared metric. */
export function compareModes(modes: readonly ModeResult[], opts: CompareOptions = {}): Comparison[] {
  const [baseline, ...rest] = modes;
  if (!baseline) return [];
  const metrics = comparedMetrics(modes);
  return rest.flatMap((m) =>
    metrics.map((metric) => {
      const b = metricExposure(baseline, metric);
      const n = metricExposure(m, metric);
      const c = compareCounts(baseline.mode, m.mode, metric, {
        baselineCount: b.count,
        baselineAttempts: b.attempts,
        candidateCount: n.count,
        candidateAttempts: n.attempts,
      }, opts);
      const invalid = [baseline, m].filter((x) => x.verdict === 'invalid').map((x) => x.mode);
      if (invalid.length > 0) c.reason += `; caution: ${invalid.join(' and ')} invalid (the harness was a bottleneck)`;
      return c;
    }),
  );
}

/** The metric a run's headline and comparison lines speak of: the first one compared. */
export function headlineMetric(comparisons: readonly Comparison[]): string {
  return comparisons[0]?.metric ?? COMPARED_METRICS[0];
}
