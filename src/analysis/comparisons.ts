import { binomialTestTwoSided, clopperPearson, poissonInterval } from './exactStats.js';
import { CONFIDENCE, PER, modeCounts, round } from './rates.js';
import type { Comparison, ComparisonVerdict, ModeResult } from '../types.js';

/** Significance level of the exact test (two-sided), matching the 95 % intervals. */
export const ALPHA = 1 - CONFIDENCE;
/** A rate ratio whose whole interval lies within [1/2, 2] is "no difference" even when both rates are high. */
export const EQUIVALENCE_RATIO = 2;
/**
 * Metrics a comparison covers, the first decides the headline: losses the race counter explains, and all
 * confirmed losses (raw stalls are not compared: under load, scheduling delays land in the bands too).
 */
export const COMPARED_METRICS = ['race', 'lost'] as const;
/** How far "attempts to settle" looks: up to this many times the attempts made. */
const MAX_SCALE = 1000;

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

/**
 * The rate ratio and the exact conditional test for two Poisson counts: given the total m of both counts,
 * the candidate's count is Binomial(m, pi) with pi = nC*rC / (nC*rC + nB*rB); equal rates mean
 * pi0 = nC / (nC + nB). A Clopper-Pearson interval for pi maps to the rate ratio rC/rB = pi/(1-pi) * nB/nC.
 */
export function decide(c: CountPair, detectRatePer100k: number): Decision {
  const { baselineCount: xb, baselineAttempts: nb, candidateCount: xc, candidateAttempts: nc } = c;
  const m = xb + xc;
  const odds = (p: number): number => (p / (1 - p)) * (nb / nc);
  let rateRatio: Comparison['rateRatio'];
  let pValue = 1;
  if (m === 0 || nb <= 0 || nc <= 0) {
    rateRatio = { estimate: null, lower: 0, upper: null };
  } else {
    const pi = clopperPearson(xc, m, CONFIDENCE);
    rateRatio = {
      estimate: xb === 0 ? null : round((xc / nc) / (xb / nb)),
      lower: round(odds(pi.lower)),
      upper: pi.upper >= 1 ? null : round(odds(pi.upper)),
    };
    pValue = binomialTestTwoSided(xc, m, nc / (nc + nb));
  }
  let verdict: ComparisonVerdict;
  if (pValue < ALPHA) {
    verdict = xc / nc < xb / nb ? 'better' : 'worse';
  } else {
    const upper = (x: number, n: number): number => (n > 0 ? (poissonInterval(x, CONFIDENCE).upper * PER) / n : Infinity);
    const bothBelowDetectable = upper(xb, nb) < detectRatePer100k && upper(xc, nc) < detectRatePer100k;
    const ratioTight =
      rateRatio.upper !== null && rateRatio.lower >= 1 / EQUIVALENCE_RATIO && rateRatio.upper <= EQUIVALENCE_RATIO;
    verdict = bothBelowDetectable || ratioTight ? 'no difference' : 'inconclusive';
  }
  return { verdict, pValue: round(pValue), rateRatio };
}

/**
 * Roughly how many attempts per side would settle an inconclusive comparison: the smallest scale of both sides
 * (counts growing in proportion) at which the same decision rule gives a verdict. Null when out of reach.
 */
export function attemptsToSettle(c: CountPair, detectRatePer100k: number): number | null {
  for (let s = 1.25; s <= MAX_SCALE; s *= 1.25) {
    const scaled: CountPair = {
      baselineCount: Math.round(c.baselineCount * s),
      baselineAttempts: Math.ceil(c.baselineAttempts * s),
      candidateCount: Math.round(c.candidateCount * s),
      candidateAttempts: Math.ceil(c.candidateAttempts * s),
    };
    if (decide(scaled, detectRatePer100k).verdict !== 'inconclusive') {
      return roundUp2(Math.max(scaled.baselineAttempts, scaled.candidateAttempts));
    }
  }
  return null;
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

/** Pure: one metric of a candidate against a baseline, with its verdict and the sentence that explains it. */
export function compareCounts(
  baseline: string,
  candidate: string,
  metric: string,
  c: CountPair,
  detectRatePer100k: number,
): Comparison {
  const d = decide(c, detectRatePer100k);
  const settle = d.verdict === 'inconclusive' ? attemptsToSettle(c, detectRatePer100k) : null;
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
      why =
        d.rateRatio.upper !== null && d.rateRatio.lower >= 1 / EQUIVALENCE_RATIO && d.rateRatio.upper <= EQUIVALENCE_RATIO
          ? `the rates are within a factor ${EQUIVALENCE_RATIO} of each other`
          : `both rates are below ${detectRatePer100k} per 100 000 at 95 %`;
      break;
    default:
      why =
        settle === null
          ? `not settled; more than ${MAX_SCALE}x these attempts would be needed`
          : `not settled; about ${int(settle)} attempts per side would settle it`;
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
    attemptsToSettle: settle,
  };
}

export function metricCount(m: ModeResult, metric: string): number {
  return modeCounts(m).find((c) => c.metric === metric)?.count ?? 0;
}

/** Pure: every later mode against the first mode (the baseline, e.g. `none`), for each compared metric. */
export function compareModes(modes: readonly ModeResult[], detectRatePer100k: number): Comparison[] {
  const [baseline, ...rest] = modes;
  if (!baseline) return [];
  return rest.flatMap((m) =>
    COMPARED_METRICS.map((metric) => {
      const c = compareCounts(baseline.mode, m.mode, metric, {
        baselineCount: metricCount(baseline, metric),
        baselineAttempts: baseline.attempts,
        candidateCount: metricCount(m, metric),
        candidateAttempts: m.attempts,
      }, detectRatePer100k);
      const invalid = [baseline, m].filter((x) => x.verdict === 'invalid').map((x) => x.mode);
      if (invalid.length > 0) c.reason += `; caution: ${invalid.join(' and ')} invalid (the harness was a bottleneck)`;
      return c;
    }),
  );
}
