import { clopperPearson, poissonInterval } from './exactStats.js';
import type { ModeResult, RateEstimate } from '../types.js';

/**
 * All intervals in results and reports are exact two-sided 95 % intervals (zero events in n: upper 3.69/n); only the
 * not-reproduced rule uses a one-sided bound (3.0/n), and says so (src/analysis/verdict.ts RULE_OUT_BOUND).
 */
export const CONFIDENCE = 0.95;
export const PER = 100_000;

const TIMEOUT_CODE = 'ETIMEDOUT';

/** conntrack stat columns that count events (others, such as entries or found, are gauges or routine lookups). */
export const CONNTRACK_EVENT_COUNTERS: readonly string[] = ['insert_failed', 'drop', 'early_drop', 'clashres', 'invalid', 'search_restart', 'icmp_error'];

export interface MetricCount {
  metric: string;
  description: string;
  count: number;
  /** The denominator when it is not the mode's attempts (vxlan double_snat: outer flows). */
  attempts?: number;
  /** A proportion of its denominator (at most 1 each): a Clopper-Pearson interval, not a Poisson one. */
  proportion?: boolean;
}

function unitWord(m: ModeResult): string {
  return m.attribution.unit === 'lost-syn' ? 'lost SYNs' : m.attribution.unit === 'lost-query' ? 'lost queries' : 'lost packets';
}

function lossNoun(m: ModeResult): string {
  return m.attribution.unit === 'lost-syn' ? 'SYNs' : m.attribution.unit === 'lost-query' ? 'queries' : 'packets';
}

function attemptWord(m: ModeResult): string {
  return m.attribution.unit === 'lost-query' ? 'lookups' : 'attempts';
}

/**
 * Stalled attempts and those the race explains, the unit of every comparison (an attempt stalls or not). Older
 * files lack them: then every raw stall counts, and the race's share is bounded by its lost packets.
 */
function stalledOf(m: ModeResult): { stalled: number; raceStalled: number } {
  const raw = Object.values(m.signatures).reduce((s, n) => s + n, 0) + (m.failures[TIMEOUT_CODE] ?? 0);
  const stalled = m.attribution.stalled ?? raw;
  return { stalled, raceStalled: m.attribution.raceStalled ?? Math.min(stalled, m.attribution.conntrackRace) };
}

/**
 * The event counts of one mode that get a rate: stalls (all bands and the connect timeout), each band,
 * confirmed losses, race-attributed and unexplained losses, and the conntrack event counters. The same names are used by
 * comparisons, `repro diff` and scenario thresholds.
 */
export function modeCounts(m: ModeResult): MetricCount[] {
  const bands = Object.entries(m.signatures);
  const timeouts = m.failures[TIMEOUT_CODE] ?? 0;
  const stalled = stalledOf(m);
  const out: MetricCount[] = [
    {
      metric: 'stalls',
      description: `attempts that stalled: a retransmit band (${bands.map(([b]) => b).join(', ') || 'none'}) or the connect timeout`,
      count: bands.reduce((s, [, n]) => s + n, 0) + timeouts,
    },
    ...bands.map(([b, n]) => ({ metric: `stalls_${b}`, description: `attempts in the ~${b} band`, count: n })),
    {
      metric: 'lost',
      description: `${attemptWord(m)} with a confirmed loss (they lost ${m.attribution.lostSyns} ${lossNoun(m)} in all)`,
      count: stalled.stalled,
    },
    // vxlan's losses are checksum drops, not the conntrack race: they get their own metric.
    m.vxlan
      ? { metric: 'checksum', description: `${unitWord(m)} matched by checksum errors on the path`, count: m.attribution.checksum ?? 0 }
      : {
          metric: 'race',
          description: `${attemptWord(m)} stalled by the conntrack race: at most one per ${unitWord(m).replace(/s$/, '')} the race counter matched (${m.attribution.conntrackRace} ${lossNoun(m)} in all)`,
          count: stalled.raceStalled,
        },
    { metric: 'unexplained', description: `${unitWord(m)} no counter explains`, count: m.attribution.unexplained },
  ];
  if (m.vxlan) out.push(...vxlanCounts(m, m.vxlan));
  for (const [k, v] of Object.entries(m.counters.conntrack)) {
    if (!CONNTRACK_EVENT_COUNTERS.includes(k)) continue;
    out.push({ metric: k, description: `conntrack ${k} (host counter delta)`, count: Math.max(0, v) });
  }
  return out;
}

/**
 * What vxlan tests, as counts: outer flows masqueraded a second time (per outer flow: still marked in POSTROUTING or
 * with a rewritten source), checksum errors counted on the path, and drops: the larger of checksum errors and lost SYNs
 * (the two overlap: a SYN dropped for its checksum is both).
 */
function vxlanCounts(m: ModeResult, v: NonNullable<ModeResult['vxlan']>): MetricCount[] {
  const doubled = Math.max(v.markedOuterFlows, v.outerFlowsRemapped);
  const csum = Object.values(v.checksumErrors).reduce((s, n) => s + n, 0);
  return [
    {
      metric: 'double_snat',
      description: 'outer VXLAN flows masqueraded a second time, a proportion of outer flows (Clopper-Pearson interval)',
      count: doubled,
      attempts: Math.max(v.outerFlows, doubled),
      proportion: true,
    },
    { metric: 'checksum_errors', description: 'checksum errors counted on node B, pod B and node A', count: csum },
    { metric: 'drops', description: 'packets lost: the larger of checksum errors and lost SYNs', count: Math.max(csum, m.attribution.lostSyns) },
  ];
}

/** A metric's count and its denominator (attempts, or vxlan's outer flows); zero of the mode's attempts when absent. */
export function metricExposure(m: ModeResult, metric: string): { count: number; attempts: number } {
  const c = modeCounts(m).find((x) => x.metric === metric);
  return { count: c?.count ?? 0, attempts: c?.attempts ?? m.attempts };
}

export function rateOf(count: number, attempts: number, metric = '', description = ''): RateEstimate {
  const ci = poissonInterval(count, CONFIDENCE);
  const scale = attempts > 0 ? PER / attempts : 0;
  return {
    metric,
    description,
    count,
    attempts,
    per100k: round(count * scale),
    lower: round(ci.lower * scale),
    upper: attempts > 0 ? round(ci.upper * scale) : Number.MAX_VALUE,
  };
}

/** A proportion (count of trials, each counted at most once) per 100 000 with its exact Clopper-Pearson interval. */
export function proportionOf(count: number, trials: number, metric = '', description = ''): RateEstimate {
  const ci = clopperPearson(count, trials, CONFIDENCE);
  return {
    metric,
    description,
    count,
    attempts: trials,
    per100k: trials > 0 ? round((count / trials) * PER) : 0,
    lower: round(ci.lower * PER),
    upper: round(ci.upper * PER),
    interval: 'clopper-pearson',
  };
}

/** Pure: per-mode rates per 100 000 attempts (or outer flows) with exact two-sided 95 % intervals. */
export function modeRates(m: ModeResult): RateEstimate[] {
  return modeCounts(m).map((c) =>
    c.proportion ? proportionOf(c.count, c.attempts ?? m.attempts, c.metric, c.description) : rateOf(c.count, c.attempts ?? m.attempts, c.metric, c.description),
  );
}

/** Four significant digits: enough for a report, stable in JSON. */
export function round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(4));
}
