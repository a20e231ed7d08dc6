/**
 * A nightly read against the nights before it: many results of one scenario in time order, per mode the headline
 * rate with its interval, the connect rate and p99; the runs whose kernel, rules, options or harness changed; and
 * each statistically real change from one run to the next, by the same comparison `repro diff` makes.
 */
import { comparedMetrics } from './comparisons.js';
import { diffResults, type LabelledResult } from './diff.js';
import { withStatistics } from './runStatistics.js';
import type { Comparison, RateEstimate, ResultFile, Verdict } from '../types.js';

export const HISTORY_SCHEMA = 'repro/history@1';

export interface HistoryPoint {
  mode: string;
  verdict: Verdict;
  attempts: number;
  /** The scenario's headline metric (race; vxlan: double_snat) per 100 000 with its exact two-sided 95 % interval. */
  rate: RateEstimate | null;
  connectsPerSecond: number;
  p99Ms: number;
}

export interface HistoryRun {
  /** Where it was read (a file or directory as given). */
  source: string;
  runId: string;
  startedAt: string;
  kernel: string;
  harness: string;
  backend: string;
  interrupted: boolean;
  points: HistoryPoint[];
  /** What changed against the run before it: kernel, a mode's rule, options, harness, backend. Empty for the first. */
  changes: string[];
  /** Comparisons with the run before it (race and lost; vxlan: double_snat and drops) that are better or worse. */
  significant: Comparison[];
}

export interface History {
  schema: typeof HISTORY_SCHEMA;
  /** The series' name: the entry name of a `repro run` directory, else the scenario. */
  label: string;
  scenario: string;
  metric: string;
  modes: string[];
  runs: HistoryRun[];
}

/** A mode's rule without what differs every run (its id in chain and device names, the subnets picked). */
export function ruleShape(rule: string, runId: string): string {
  return rule.split(runId).join('<id>').replace(/\b\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?\b/g, '<addr>');
}

/** The options that decide what a run measures (not the addresses it picked). */
function optionShape(r: ResultFile): string {
  const entries = Object.entries(r.config as Record<string, unknown>)
    .filter(([k]) => !/subnet|cidr|serviceIp|checksumProbe/i.test(k))
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify(entries);
}

function harnessOf(r: ResultFile): string {
  const h = r.environment.harness;
  return `${h.version}${h.commit ? ` (${h.commit})` : ''}`;
}

function changesBetween(prev: ResultFile, cur: ResultFile): string[] {
  const out: string[] = [];
  if (prev.environment.kernel !== cur.environment.kernel) out.push(`kernel ${prev.environment.kernel} → ${cur.environment.kernel}`);
  for (const m of cur.modes) {
    const p = prev.modes.find((x) => x.mode === m.mode);
    if (p && ruleShape(p.rule, prev.runId) !== ruleShape(m.rule, cur.runId)) out.push(`rule of ${m.mode}: ${ruleShape(p.rule, prev.runId)} → ${ruleShape(m.rule, cur.runId)}`);
  }
  const added = cur.modes.filter((m) => !prev.modes.some((p) => p.mode === m.mode)).map((m) => m.mode);
  const gone = prev.modes.filter((p) => !cur.modes.some((m) => m.mode === p.mode)).map((m) => m.mode);
  if (added.length > 0 || gone.length > 0) out.push(`modes: ${[...added.map((m) => `+${m}`), ...gone.map((m) => `-${m}`)].join(' ')}`);
  if (optionShape(prev) !== optionShape(cur)) out.push('options changed');
  if (harnessOf(prev) !== harnessOf(cur)) out.push(`harness ${harnessOf(prev)} → ${harnessOf(cur)}`);
  if (prev.environment.backend !== cur.environment.backend) out.push(`backend ${prev.environment.backend} → ${cur.environment.backend}`);
  return out;
}

/**
 * Pure: the history of one series. Every result must be of one scenario (else an Error naming the odd one);
 * runs are put in time order, equal times by run id.
 */
export function buildHistory(label: string, results: readonly { source: string; result: ResultFile }[]): History {
  const first = results[0];
  if (!first) throw new Error(`${label}: no results`);
  const odd = results.find((x) => x.result.scenario !== first.result.scenario);
  if (odd) throw new Error(`${odd.source} is a ${odd.result.scenario} result, ${first.source} a ${first.result.scenario} one: a history is of one scenario`);
  const sorted = [...results]
    .map((x) => ({ source: x.source, result: withStatistics(x.result) }))
    .sort((a, b) => a.result.startedAt.localeCompare(b.result.startedAt) || a.result.runId.localeCompare(b.result.runId));
  const metric = comparedMetrics(sorted.flatMap((x) => x.result.modes))[0] ?? 'race';
  const runs: HistoryRun[] = sorted.map(({ source, result: r }, i) => {
    const prev = i > 0 ? sorted[i - 1]?.result : undefined;
    const diff = prev ? diffResults([{ label, result: prev } satisfies LabelledResult], [{ label, result: r }], { failOnWorse: [] }) : null;
    return {
      source,
      runId: r.runId,
      startedAt: r.startedAt,
      kernel: r.environment.kernel,
      harness: harnessOf(r),
      backend: r.environment.backend,
      interrupted: r.interrupted,
      points: r.modes.map((m) => ({
        mode: m.mode,
        verdict: m.verdict,
        attempts: m.attempts,
        rate: m.rates?.find((x) => x.metric === metric) ?? null,
        connectsPerSecond: m.connectsPerSecond,
        p99Ms: m.latencyMs.p99,
      })),
      changes: prev ? changesBetween(prev, r) : [],
      significant: (diff?.runs[0]?.modes ?? []).flatMap((m) => m.metrics.filter((c) => c.verdict === 'better' || c.verdict === 'worse')),
    };
  });
  return {
    schema: HISTORY_SCHEMA,
    label,
    scenario: first.result.scenario,
    metric,
    modes: [...new Set(sorted.flatMap((x) => x.result.modes.map((m) => m.mode)))],
    runs,
  };
}

/** Results grouped into series by label (a `repro run` entry's name, or the scenario), in first-seen order. */
export function historySeries(results: readonly { label: string; source: string; result: ResultFile }[]): History[] {
  const groups = new Map<string, { source: string; result: ResultFile }[]>();
  for (const x of results) {
    const key = `${x.label}\u0000${x.result.scenario}`;
    groups.set(key, [...(groups.get(key) ?? []), { source: x.source, result: x.result }]);
  }
  return [...groups.entries()].map(([key, xs]) => buildHistory(key.split('\u0000')[0] ?? '', xs));
}
