import { binomialCdf, binomialSf, clopperPearson, fisherCentral, logGamma } from './exactStats.js';
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
 * Metrics a comparison covers, the first decides the headline, both counted in attempts (dns: lookups), since an
 * attempt stalls or not and one timed-out connect loses 7 SYNs: attempts the race counter explains, and attempts
 * with a confirmed loss (raw stalls are not compared: under load, scheduling delays land in the bands too).
 */
export const COMPARED_METRICS = ['race', 'lost'] as const;
/** vxlan compares what it tests: the share of outer flows masqueraded twice, and the attempts that stalled. */
export const VXLAN_COMPARED_METRICS = ['double_snat', 'lost'] as const;
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

/** Metrics that are proportions of their own denominator (vxlan: outer flows masqueraded twice of outer flows). */
export const PROPORTION_METRICS: readonly string[] = ['double_snat'];

/**
 * One test behind each verdict and the interval printed beside it.
 * - Counts of attempts (stalled attempts, lookups): each attempt stalls or not, and stalls are rare against the
 *   attempts, so given the total m of both counts the candidate's count is Binomial(m, pi) with
 *   pi = nC*rC / (nC*rC + nB*rB), pi0 = nC / (nC + nB) when the rates are equal. The p-value is the central test
 *   (twice the smaller tail) and the interval its inversion: Clopper-Pearson for pi, mapped to the rate ratio
 *   rC/rB = pi/(1-pi) * nB/nC. So "worse" is exactly "the interval lies above 1", for any attempt counts.
 * - Proportions (PROPORTION_METRICS): Fisher's exact test, central, with the conditional odds ratio's interval
 *   (the inversion of the same tails).
 */
export function decide(c: CountPair, proportion = false): Decision {
  if (proportion) return decideProportion(c);
  const { baselineCount: xb, baselineAttempts: nb, candidateCount: xc, candidateAttempts: nc } = c;
  const m = xb + xc;
  if (m === 0 || nb <= 0 || nc <= 0) {
    return { verdict: 'inconclusive', pValue: 1, rateRatio: { estimate: null, lower: 0, upper: null } };
  }
  const pi = clopperPearson(xc, m, CONFIDENCE);
  const rateRatio = {
    estimate: xb === 0 ? null : round((xc / nc) / (xb / nb)),
    lower: roundBound(oddsToRatio(pi.lower, c)),
    upper: pi.upper >= 1 ? null : roundBound(oddsToRatio(pi.upper, c)),
  };
  const pi0 = nc / (nc + nb);
  const above = binomialSf(xc, m, pi0);
  const below = binomialCdf(xc, m, pi0);
  const pValue = Math.min(1, 2 * Math.min(above, below));
  let verdict: ComparisonVerdict;
  if (pValue < ALPHA) verdict = above < below ? 'worse' : 'better';
  else verdict = withinMargin(pi.lower, pi.upper, c) ? 'no difference' : 'inconclusive';
  return { verdict, pValue: round(pValue), rateRatio };
}

function decideProportion(c: CountPair): Decision {
  const { baselineCount: xb, baselineAttempts: nb, candidateCount: xc, candidateAttempts: nc } = c;
  if (nb <= 0 || nc <= 0 || xb + xc === 0 || xb + xc === nb + nc) {
    return { verdict: 'inconclusive', pValue: 1, rateRatio: { estimate: null, lower: 0, upper: null } };
  }
  const f = fisherCentral(xc, nc, xb, nb, CONFIDENCE);
  const finite = (x: number): number | null => (Number.isFinite(x) ? roundBound(x) : null);
  const rateRatio = { estimate: Number.isFinite(f.oddsRatio) ? round(f.oddsRatio) : null, lower: roundBound(f.lower), upper: finite(f.upper) };
  let verdict: ComparisonVerdict;
  if (f.pValue < ALPHA) verdict = xc / nc > xb / nb ? 'worse' : 'better';
  else verdict = f.lower >= 1 / EQUIVALENCE_RATIO && f.upper <= EQUIVALENCE_RATIO ? 'no difference' : 'inconclusive';
  return { verdict, pValue: round(f.pValue), rateRatio };
}

/**
 * Four significant digits, or as many more as keep the bound on its side of 1: a "worse" whose interval starts at
 * 1.00002 must not print a lower bound of 1.
 */
function roundBound(x: number): number {
  for (let digits = 4; digits <= 15; digits++) {
    const r = Number(x.toPrecision(digits));
    if (Math.sign(r - 1) === Math.sign(x - 1)) return r;
  }
  return x;
}

function withinMargin(piLower: number, piUpper: number, c: CountPair): boolean {
  return piUpper < 1 && piLower >= ratioToPi(1 / EQUIVALENCE_RATIO, c) && piUpper <= ratioToPi(EQUIVALENCE_RATIO, c);
}

/**
 * Which candidate counts x of a total m the decision rule settles (a verdict other than inconclusive): the central
 * test rejects exactly when the Clopper-Pearson interval excludes pi0, and both bounds increase with x, so each
 * verdict is a run of consecutive x.
 */
function settledCounts(m: number, c: CountPair): (x: number) => boolean {
  const pi0 = c.candidateAttempts / (c.candidateAttempts + c.baselineAttempts);
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
  const cp = (x: number) => clopperPearson(x, m, CONFIDENCE);
  // The same tails decide() reads: P(X >= x) falls and P(X <= x) rises with x.
  const worseFrom = firstAtLeast((x) => 2 * binomialSf(x, m, pi0) < ALPHA);
  const betterTo = firstAtLeast((x) => !(2 * binomialCdf(x, m, pi0) < ALPHA)) - 1;
  const b = firstAtLeast((x) => cp(x).lower >= piLo);
  const cEnd = firstAtLeast((x) => cp(x).upper > piHi) - 1;
  return (x) => x >= worseFrom || x <= betterTo || (x >= b && x <= cEnd);
}

function poissonPmf(k: number, mu: number): number {
  if (mu <= 0) return k === 0 ? 1 : 0;
  return Math.exp(k * Math.log(mu) - mu - logGamma(k + 1));
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

function fmtRatio(r: Comparison['rateRatio'], c: CountPair, measure: string): string {
  const est = r.estimate === null ? (c.candidateCount > 0 ? '∞' : '–') : String(r.estimate);
  return `${measure} ${est} (95 % CI ${r.lower}–${r.upper === null ? '∞' : r.upper})`;
}

/** The smallest p-value a double holds is about 1e-308; below 1e-300 it is said as a bound, never "p = 0". */
export function pValuePhrase(p: number): string {
  return p < 1e-300 ? 'p < 1e-300' : `p = ${p}`;
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
  const proportion = PROPORTION_METRICS.includes(metric);
  const d = decide(c, proportion);
  const bothZero = c.baselineCount === 0 && c.candidateCount === 0;
  // A proportion's settle size is not a rate scaled up: only counts of rare events get one.
  const settle = d.verdict === 'inconclusive' && !bothZero && !proportion ? attemptsToSettle(c) : null;
  const measure = proportion ? 'odds ratio' : 'rate ratio';
  const test = proportion ? "Fisher's exact test (central)" : 'exact conditional binomial test (central)';
  const hint = bothZero && d.verdict === 'inconclusive' ? opts.settleHint ?? DEFAULT_SETTLE_HINT : null;
  const facts =
    `${metric}: ${int(c.candidateCount)} in ${int(c.candidateAttempts)} (${candidate}) vs ${int(c.baselineCount)} in ${int(c.baselineAttempts)} (${baseline}); ` +
    `${fmtRatio(d.rateRatio, c, measure)}; ${test} ${pValuePhrase(d.pValue)}`;
  let why: string;
  switch (d.verdict) {
    case 'better':
      why = `${candidate} has a lower ${metric} rate than ${baseline}`;
      break;
    case 'worse':
      why = `${candidate} has a higher ${metric} rate than ${baseline}`;
      break;
    case 'no difference':
      why = `the ${proportion ? 'proportions' : 'rates'} are within a factor ${EQUIVALENCE_RATIO} of each other (the ${measure}'s 95 % interval lies inside [1/${EQUIVALENCE_RATIO}, ${EQUIVALENCE_RATIO}])`;
      break;
    default:
      if (hint !== null) why = `not settled: 0 against 0 gives no rate that more attempts of the same load would grow; ${hint} would settle it`;
      else if (proportion) why = `not settled at these counts`;
      else if (settle?.attempts == null) why = `not settled; more than ${MAX_SCALE}x these attempts (or ${int(MAX_EVENTS)} events) would be needed`;
      else why = `not settled; about ${int(settle.attempts)} attempts per side would settle it with ${SETTLE_POWER * 100} % probability at the rates seen`;
  }
  return {
    baseline,
    candidate,
    metric,
    ...c,
    rateRatio: d.rateRatio,
    ...(proportion ? { measure: 'odds ratio' as const } : {}),
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
