import { poissonInterval } from './exactStats.js';
import type { ModeResult, RateEstimate } from '../types.js';

/** All intervals in results and reports are exact two-sided 95 % intervals. */
export const CONFIDENCE = 0.95;
export const PER = 100_000;

const TIMEOUT_CODE = 'ETIMEDOUT';

/** conntrack stat columns that count events (others, such as entries or found, are gauges or routine lookups). */
export const CONNTRACK_EVENT_COUNTERS: readonly string[] = ['insert_failed', 'drop', 'early_drop', 'clashres', 'invalid', 'search_restart', 'icmp_error'];

export interface MetricCount {
  metric: string;
  description: string;
  count: number;
}

function unitWord(m: ModeResult): string {
  return m.attribution.unit === 'lost-syn' ? 'lost SYNs' : m.attribution.unit === 'lost-query' ? 'lost queries' : 'lost packets';
}

/**
 * The event counts of one mode that get a rate: stalls (all bands and the connect timeout), each band,
 * confirmed losses, race-attributed and unexplained losses, and the conntrack event counters. The same names are used by
 * comparisons, `repro diff` and scenario thresholds.
 */
export function modeCounts(m: ModeResult): MetricCount[] {
  const bands = Object.entries(m.signatures);
  const timeouts = m.failures[TIMEOUT_CODE] ?? 0;
  const out: MetricCount[] = [
    {
      metric: 'stalls',
      description: `attempts that stalled: a retransmit band (${bands.map(([b]) => b).join(', ') || 'none'}) or the connect timeout`,
      count: bands.reduce((s, [, n]) => s + n, 0) + timeouts,
    },
    ...bands.map(([b, n]) => ({ metric: `stalls_${b}`, description: `attempts in the ~${b} band`, count: n })),
    { metric: 'lost', description: `${unitWord(m)} the stalls show and the clients' retransmits confirm`, count: m.attribution.lostSyns },
    { metric: 'race', description: `${unitWord(m)} matched by the conntrack race counter`, count: m.attribution.conntrackRace },
    { metric: 'unexplained', description: `${unitWord(m)} no counter explains`, count: m.attribution.unexplained },
  ];
  for (const [k, v] of Object.entries(m.counters.conntrack)) {
    if (!CONNTRACK_EVENT_COUNTERS.includes(k)) continue;
    out.push({ metric: k, description: `conntrack ${k} (host counter delta)`, count: Math.max(0, v) });
  }
  return out;
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

/** Pure: per-mode rates per 100 000 attempts with exact 95 % intervals. */
export function modeRates(m: ModeResult): RateEstimate[] {
  return modeCounts(m).map((c) => rateOf(c.count, m.attempts, c.metric, c.description));
}

/** Four significant digits: enough for a report, stable in JSON. */
export function round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(4));
}
