import { comparedMetrics, compareCounts } from './comparisons.js';
import { metricExposure } from './rates.js';
import { settleHintFor } from './runStatistics.js';
import { kernelDifferences, vmCaveat, type KernelChangeDiff } from './kernelDiff.js';
import { kernelVersionText } from './kernelFixes.js';
import type { Comparison, ModeResult, ResultFile, Verdict } from '../types.js';

/** A result with the name it goes by in a run directory (the run's name), or its scenario alone. */
export interface LabelledResult {
  label: string;
  result: ResultFile;
}

export interface ModeDiff {
  mode: string;
  /** Present in old only, new only, or both. */
  presence: 'both' | 'old-only' | 'new-only';
  verdict: { old: Verdict | null; new: Verdict | null };
  attempts: { old: number; new: number };
  p99Ms: { old: number; new: number };
  connectsPerSecond: { old: number; new: number };
  /** New against old, per compared metric (race and lost; vxlan: double_snat and drops): same exact test as between modes. */
  metrics: Comparison[];
}

export interface RunDiff {
  label: string;
  scenario: string;
  /** Differences that make the runs not strictly comparable (kernel, backend, iptables, CPUs, sizes). */
  caveats: string[];
  /** Known conntrack/NAT changes one kernel has and the other has not (empty for the same kernel version). */
  kernelChanges: KernelChangeDiff[];
  /** Kernel versions of the two runs. */
  kernels: { old: string; new: string };
  modes: ModeDiff[];
}

export interface DiffResult {
  runs: RunDiff[];
  /** Labels present in only one side. */
  unmatched: { old: string[]; new: string[] };
  /** Threshold crossings, one sentence each; non-empty means exit code 1. */
  failures: string[];
}

export interface DiffOptions {
  /** Metrics whose significant worsening (new vs old) is a failure. */
  failOnWorse: readonly string[];
}

function environmentCaveats(a: ResultFile, b: ResultFile): string[] {
  const out: string[] = [];
  const ea = a.environment;
  const eb = b.environment;
  const same = (what: string, x: string | number, y: string | number): void => {
    if (x !== y) out.push(`${what} differs: ${x} (old) vs ${y} (new)`);
  };
  same('kernel', ea.kernel, eb.kernel);
  same('backend', ea.backend, eb.backend);
  same('iptables', `${ea.iptables.version} ${ea.iptables.backend}`, `${eb.iptables.version} ${eb.iptables.backend}`);
  same('CPUs', ea.cpus, eb.cpus);
  if (JSON.stringify(configForCompare(a)) !== JSON.stringify(configForCompare(b))) {
    out.push('configuration differs (clients, workers, concurrency, port range, close or timeout): rates are compared as measured');
  }
  for (const [side, r] of [['old', a], ['new', b]] as const) {
    const vm = vmCaveat(r.environment);
    if (vm) out.push(`${side} run ran ${vm}`);
  }
  const interrupted = [a.interrupted ? 'old' : null, b.interrupted ? 'new' : null].filter((s) => s !== null);
  if (interrupted.length === 2) out.push('old and new runs were both interrupted (partial results)');
  else if (interrupted.length === 1) out.push(`${interrupted[0]} run was interrupted (partial result)`);
  return out;
}

/** The options that change the race rate itself (not the run's size). */
function configForCompare(r: ResultFile): Record<string, unknown> {
  const { modes: _m, connections: _c, durationSec: _d, clientSubnet: _cs, serverSubnet: _ss, backend: _b, ...rest } = r.config as Record<string, unknown>;
  return rest;
}

function diffMode(oldR: ResultFile, newR: ResultFile, o: ModeResult | undefined, n: ModeResult | undefined): ModeDiff {
  const mode = (o ?? n)?.mode ?? '?';
  const base = {
    mode,
    presence: o && n ? 'both' : o ? 'old-only' : 'new-only',
    verdict: { old: o?.verdict ?? null, new: n?.verdict ?? null },
    attempts: { old: o?.attempts ?? 0, new: n?.attempts ?? 0 },
    p99Ms: { old: o?.latencyMs.p99 ?? 0, new: n?.latencyMs.p99 ?? 0 },
    connectsPerSecond: { old: o?.connectsPerSecond ?? 0, new: n?.connectsPerSecond ?? 0 },
  } as const;
  if (!o || !n) return { ...base, metrics: [] };
  const metrics = comparedMetrics([o, n]).map((metric) => {
    const b = metricExposure(o, metric);
    const c = metricExposure(n, metric);
    return compareCounts(`old ${mode}`, `new ${mode}`, metric, {
      baselineCount: b.count,
      baselineAttempts: b.attempts,
      candidateCount: c.count,
      candidateAttempts: c.attempts,
    }, { settleHint: settleHintFor(newR.scenario) });
  });
  return { ...base, metrics };
}

function diffRun(label: string, oldR: ResultFile, newR: ResultFile): RunDiff {
  const names = [...new Set([...oldR.modes.map((m) => m.mode), ...newR.modes.map((m) => m.mode)])];
  return {
    label,
    scenario: newR.scenario,
    caveats: environmentCaveats(oldR, newR),
    kernelChanges: kernelDifferences(oldR.environment.kernelVersion, newR.environment.kernelVersion),
    kernels: { old: kernelVersionText(oldR.environment.kernelVersion), new: kernelVersionText(newR.environment.kernelVersion) },
    modes: names.map((n) => diffMode(oldR, newR, oldR.modes.find((m) => m.mode === n), newR.modes.find((m) => m.mode === n))),
  };
}

/**
 * Pure: what changed from the old results to the new, per run (matched by label, else by scenario) and mode,
 * with the same exact tests as between modes; threshold crossings listed for the exit code.
 */
export function diffResults(oldRuns: readonly LabelledResult[], newRuns: readonly LabelledResult[], opts: DiffOptions): DiffResult {
  const runs: RunDiff[] = [];
  const usedNew = new Set<number>();
  const unmatchedOld: string[] = [];
  for (const o of oldRuns) {
    let j = newRuns.findIndex((n, i) => !usedNew.has(i) && n.label === o.label && n.result.scenario === o.result.scenario);
    if (j < 0) j = newRuns.findIndex((n, i) => !usedNew.has(i) && n.result.scenario === o.result.scenario);
    const n = newRuns[j];
    if (j < 0 || !n) {
      unmatchedOld.push(o.label);
      continue;
    }
    usedNew.add(j);
    runs.push(diffRun(o.label === n.label ? o.label : `${o.label} → ${n.label}`, o.result, n.result));
  }
  const failures: string[] = [];
  for (const r of runs) {
    for (const m of r.modes) {
      for (const c of m.metrics) {
        if (c.verdict === 'worse' && opts.failOnWorse.includes(c.metric)) failures.push(`${r.label} ${m.mode}: ${c.metric} is significantly worse (${c.reason})`);
      }
    }
  }
  return {
    runs,
    unmatched: { old: unmatchedOld, new: newRuns.filter((_, i) => !usedNew.has(i)).map((n) => n.label) },
    failures,
  };
}
