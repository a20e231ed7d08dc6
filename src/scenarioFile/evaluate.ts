import { withStatistics } from '../analysis/runStatistics.js';
import { checkThreshold, type ThresholdOutcome } from './thresholds.js';
import type { ScenarioRun } from './load.js';
import type { ResultFile } from '../types.js';

export interface RunOutcome {
  name: string;
  scenario: string;
  /** The run's directory (relative to the results directory). */
  dir: string;
  durationSec: number;
  /** Exit code of the scenario command. */
  exitCode: number | null;
  /** Why there is no result to check, when there is none. */
  error: string | null;
  verdict: string | null;
  thresholds: ThresholdOutcome[];
  ok: boolean;
}

/**
 * The command line that runs one entry through the scenario's own command (kebab-case flags as written). Every
 * value is joined to its flag (`--image=V`): a value from the file that looks like an option
 * (`image: "--kernel=/tmp/x.deb"`) stays the value of its own flag.
 */
export function cliArgsFor(run: ScenarioRun, outDir: string, force = false): string[] {
  const args = [run.scenario, `--backend=${run.backend}`, ...(run.kernel !== null ? [`--kernel=${run.kernel}`] : [])];
  if (run.modes) args.push(`--modes=${run.modes.join(',')}`);
  for (const [k, v] of Object.entries(run.options)) {
    if (typeof v === 'boolean') args.push(v ? `--${k}` : `--no-${k}`);
    else args.push(`--${k}=${String(v)}`);
  }
  args.push(`--out=${outDir}`);
  if (force) args.push('--force');
  return args;
}

/** Pure: check every threshold of a run against its result ("*" means every mode of the result). */
export function evaluateRun(
  run: ScenarioRun,
  result: ResultFile | null,
  info: { dir: string; durationSec: number; exitCode: number | null; error: string | null },
): RunOutcome {
  const base = { name: run.name, scenario: run.scenario, ...info };
  if (!result) return { ...base, error: info.error ?? 'no result', verdict: null, thresholds: [], ok: false };
  const r = result.comparisons ? result : withStatistics(result);
  const outcomes: ThresholdOutcome[] = [];
  for (const [mode, list] of Object.entries(run.thresholds)) {
    const modes = mode === '*' ? r.modes : r.modes.filter((m) => m.mode === mode);
    if (modes.length === 0) {
      for (const t of list) outcomes.push({ mode, threshold: t.source, ok: false, actual: null, message: `mode ${mode} is not in the result${r.interrupted ? ' (the run was interrupted)' : ''}` });
      continue;
    }
    for (const m of modes) for (const t of list) outcomes.push(checkThreshold(t, m, r.comparisons ?? []));
  }
  const error = info.error ?? (r.interrupted ? 'the run was interrupted (partial result)' : null);
  return { ...base, error, verdict: r.verdict, thresholds: outcomes, ok: error === null && outcomes.every((o) => o.ok) };
}
