import { COMPARED_METRICS, VXLAN_COMPARED_METRICS } from '../analysis/comparisons.js';
import { CONNTRACK_EVENT_COUNTERS, modeCounts, rateOf } from '../analysis/rates.js';
import type { Comparison, ModeResult } from '../types.js';

/**
 * Thresholds (k6-style): "<metric> <op> <value>", checked per mode. Metrics are the names of result.json:
 * counts (stalls, stalls_1s, lost, race, unexplained, insert_failed, drop, ...), their rates per 100 000
 * (`race_per_100k`) and 95 % upper bounds (`race_per_100k_upper`), sizes and latencies, the mode's verdict,
 * and the comparison of a metric against the first mode (`race_vs_baseline == better`).
 */
export type Op = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface Threshold {
  source: string;
  metric: string;
  op: Op;
  value: number | string;
}

const FIGURES = ['attempts', 'failed', 'failed_pct', 'connects_per_s', 'p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'max_ms'] as const;
const COMPARABLE = [...COMPARED_METRICS, ...VXLAN_COMPARED_METRICS];
const COUNT_NAMES = ['stalls', 'lost', 'race', 'unexplained', 'checksum', 'checksum_errors', 'double_snat', 'drops', ...CONNTRACK_EVENT_COUNTERS];
const VERDICTS = ['reproduced', 'race-resolved', 'not-reproduced', 'inconclusive', 'invalid'];
const COMPARISON_VERDICTS = ['better', 'worse', 'no-difference', 'inconclusive'];

function isCount(name: string): boolean {
  return COUNT_NAMES.includes(name) || /^stalls_\d+(\.\d+)?(ms|s)$/.test(name);
}

/** What kind of value a metric has, or null when the name is unknown. */
export function metricKind(metric: string): 'number' | 'verdict' | 'comparison' | null {
  if (metric === 'verdict') return 'verdict';
  if ((COMPARABLE as readonly string[]).some((m) => metric === `${m}_vs_baseline`)) return 'comparison';
  if ((FIGURES as readonly string[]).includes(metric)) return 'number';
  const base = metric.replace(/_per_100k(_upper)?$/, '');
  return isCount(base) ? 'number' : null;
}

export const METRIC_HELP =
  `verdict, ${COMPARABLE.map((m) => `${m}_vs_baseline`).join(', ')}, ${FIGURES.join(', ')}, ` +
  `${COUNT_NAMES.join(', ')}, stalls_<band> (e.g. stalls_1s), and any count with _per_100k or _per_100k_upper`;

/** Longest expression parsed: the expression regex backtracks quadratically in runs of spaces (20 000: 349 ms). */
export const MAX_THRESHOLD_LENGTH = 256;

/** Parse one expression; a string describing the problem when it is not valid. */
export function parseThreshold(source: string): Threshold | string {
  if (source.length > MAX_THRESHOLD_LENGTH) return `a threshold is at most ${MAX_THRESHOLD_LENGTH} characters; this one has ${source.length}`;
  const m = /^\s*([a-z0-9_.]+)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$/.exec(source);
  if (!m) return `"${source}" is not "<metric> <op> <value>" (op: == != < <= > >=)`;
  const metric = m[1] ?? '';
  const op = m[2] as Op;
  const raw = m[3] ?? '';
  const kind = metricKind(metric);
  if (kind === null) return `unknown metric "${metric}" (known: ${METRIC_HELP})`;
  if (kind === 'number') {
    const value = Number(raw.replace(/_/g, ''));
    if (!Number.isFinite(value)) return `"${metric}" is a number; "${raw}" is not`;
    return { source, metric, op, value };
  }
  const allowed = kind === 'verdict' ? VERDICTS : COMPARISON_VERDICTS;
  const value = raw.replace(/^["']|["']$/g, '').replace(/ /g, '-');
  if (op !== '==' && op !== '!=') return `"${metric}" can only be compared with == or !=`;
  if (!allowed.includes(value)) return `"${metric}" is one of ${allowed.join(', ')}; "${raw}" is not`;
  return { source, metric, op, value };
}

/** The metric's value for a mode; a string explaining why there is none. */
export function metricValue(m: ModeResult, metric: string, comparisons: readonly Comparison[]): number | string | { missing: string } {
  const kind = metricKind(metric);
  if (kind === 'verdict') return m.verdict;
  if (kind === 'comparison') {
    const which = metric.replace(/_vs_baseline$/, '');
    const c = comparisons.find((x) => x.candidate === m.mode && x.metric === which);
    return c ? c.verdict.replace(/ /g, '-') : { missing: `${m.mode} is the baseline (or was not compared)` };
  }
  switch (metric) {
    case 'attempts': return m.attempts;
    case 'failed': return m.failed;
    case 'failed_pct': return m.attempts > 0 ? (m.failed / m.attempts) * 100 : 0;
    case 'connects_per_s': return m.connectsPerSecond;
    case 'p50_ms': return m.latencyMs.p50;
    case 'p90_ms': return m.latencyMs.p90;
    case 'p99_ms': return m.latencyMs.p99;
    case 'p999_ms': return m.latencyMs.p999;
    case 'max_ms': return m.latencyMs.max;
  }
  const base = metric.replace(/_per_100k(_upper)?$/, '');
  const count = modeCounts(m).find((c) => c.metric === base);
  if (!count) {
    // A conntrack column this kernel lacks counts as zero events, not as a missing figure.
    if (!(CONNTRACK_EVENT_COUNTERS as readonly string[]).includes(base)) return { missing: `${m.mode} has no "${base}"` };
  }
  const n = count?.count ?? 0;
  const of = count?.attempts ?? m.attempts;
  if (metric.endsWith('_per_100k_upper')) return rateOf(n, of).upper;
  if (metric.endsWith('_per_100k')) return rateOf(n, of).per100k;
  return n;
}

function holds(actual: number | string, op: Op, expected: number | string): boolean {
  switch (op) {
    case '==': return actual === expected;
    case '!=': return actual !== expected;
    case '<': return actual < expected;
    case '<=': return actual <= expected;
    case '>': return actual > expected;
    case '>=': return actual >= expected;
  }
}

export interface ThresholdOutcome {
  mode: string;
  threshold: string;
  ok: boolean;
  /** The measured value, or null when the result has none. */
  actual: number | string | null;
  message: string;
}

/** Pure: check a threshold against one mode of a result. */
export function checkThreshold(t: Threshold, m: ModeResult, comparisons: readonly Comparison[]): ThresholdOutcome {
  const v = metricValue(m, t.metric, comparisons);
  if (typeof v === 'object') return { mode: m.mode, threshold: t.source, ok: false, actual: null, message: `no value: ${v.missing}` };
  const ok = holds(v, t.op, t.value);
  const shown = typeof v === 'number' ? String(Number(v.toPrecision(6))) : v;
  return { mode: m.mode, threshold: t.source, ok, actual: v, message: `${t.metric} = ${shown}${ok ? '' : `, expected ${t.op} ${t.value}`}` };
}
