/**
 * The matrix's one result (repro/matrix@1): per kernel, its own facts (as its guest read them: uname -r, the SYN
 * schedule sysctls, whether conntrack counts clash resolutions), the known fixes its version carries, how it ran,
 * and per scenario and mode the race rate per 100 000 with its exact interval and the UDP clash counters.
 */
import { assessKernel } from '../analysis/kernelFixes.js';
import { describeSchedule } from '../analysis/synSchedule.js';
import { vmNote } from '../vm/runInVm.js';
import type { ModeResult, ResultFile } from '../types.js';
import type { MatrixCell } from './cells.js';

export const MATRIX_SCHEMA = 'repro/matrix@1';

export interface MatrixRate {
  count: number;
  attempts: number;
  per100k: number;
  lower: number;
  upper: number;
}

export interface MatrixModeRow {
  mode: string;
  verdict: string;
  attempts: number;
  /** Lost SYNs or lookups matched by the conntrack race counter, per 100 000 attempts (95 % exact interval). */
  race: MatrixRate | null;
  /** conntrack clash resolutions (clashres) and failed inserts (insert_failed) over the mode: resolved vs dropped. */
  clashres: number | null;
  insertFailed: number | null;
  /** The mode's reason, first sentence (a time bound says so here). */
  reason: string;
}

export interface MatrixCellResult {
  scenario: string;
  scenarioLabel: string;
  words: string[];
  /** Relative to the matrix directory: <kernel label>/<scenario label>; `repro diff` takes two of them. */
  dir: string;
  exitCode: number | null;
  wallSec: number;
  error: string | null;
  /** From a scenario file: whether its thresholds hold. */
  thresholdsOk?: boolean;
  modes: MatrixModeRow[];
}

export interface KernelFacts {
  /** uname -r in the guest (or on the host). */
  release: string | null;
  kernelVersion: string | null;
  /** The .deb's Package and Version, when packaged. */
  kernelPackage: { name: string; version: string } | null;
  /** net.ipv4.tcp_syn_linear_timeouts as the kernel has it; null: the sysctl does not exist (before 6.5). */
  synLinearTimeouts: string | null;
  /** Does the kernel's conntrack count clash resolutions (the clashres column)? */
  clashresCounter: boolean | null;
  /** The SYN retransmit schedule the tcp-syn run followed, in words. */
  synSchedule: string | null;
  /** How it ran: the host, or a guest (and its emulation note). */
  ranOn: string;
  emulated: boolean;
}

export interface MatrixKernel {
  kernel: string | null;
  label: string;
  facts: KernelFacts;
  fixes: { present: string[]; absent: string[]; uncertain: string[] };
  wallSec: number;
  cells: MatrixCellResult[];
}

export interface MatrixResult {
  schema: typeof MATRIX_SCHEMA;
  command: string;
  startedAt: string;
  finishedAt: string;
  interrupted: boolean;
  scenarios: { label: string; words: string[] }[];
  kernels: MatrixKernel[];
}

export interface CellOutcome {
  cell: MatrixCell;
  dir: string;
  exitCode: number | null;
  wallSec: number;
  error: string | null;
  thresholdsOk?: boolean;
  result: ResultFile | null;
}

function rateOf(m: ModeResult, metric: string): MatrixRate | null {
  const r = m.rates?.find((x) => x.metric === metric);
  return r ? { count: r.count, attempts: r.attempts, per100k: r.per100k, lower: r.lower, upper: r.upper } : null;
}

/** Pure: one mode's row. */
export function modeRow(m: ModeResult, columns: readonly string[]): MatrixModeRow {
  const counter = (k: string): number | null => (columns.includes(k) ? Math.max(0, m.counters.conntrack[k] ?? 0) : null);
  return {
    mode: m.mode,
    verdict: m.verdict,
    attempts: m.attempts,
    race: rateOf(m, 'race'),
    clashres: counter('clashres'),
    insertFailed: counter('insert_failed'),
    reason: m.reason.split(/(?<=\.)\s/)[0] ?? m.reason,
  };
}

/** Pure: a kernel's facts from its cells' results (the first result that has each). */
export function kernelFacts(results: readonly ResultFile[]): KernelFacts {
  const first = results[0];
  const env = first?.environment;
  const tcp = results.find((r) => r.scenario === 'tcp-syn');
  const schedule = tcp?.modes.find((m) => m.synSchedule)?.synSchedule;
  const sysctls = env?.conntrackSysctls ?? {};
  return {
    release: env?.kernel ?? null,
    kernelVersion: env ? versionText(env.kernelVersion) : null,
    kernelPackage: env?.vm?.kernelPackage ?? null,
    synLinearTimeouts: env ? (sysctls['net.ipv4.tcp_syn_linear_timeouts'] ?? null) : null,
    clashresCounter: env ? env.conntrackColumns.includes('clashres') : null,
    synSchedule: schedule ? describeSchedule(schedule, 10_000) : null,
    ranOn: env?.vm ? vmNote(env.vm) : env ? 'the host itself' : 'no result',
    emulated: env?.vm?.accel === 'tcg',
  };
}

/** Pure: the matrix result from every cell's outcome, kernels and scenarios in the order they were given. */
export function matrixResult(
  outcomes: readonly CellOutcome[], info: { command: string; startedAt: string; finishedAt: string; interrupted: boolean },
): MatrixResult {
  const kernels: MatrixKernel[] = [];
  const scenarios: { label: string; words: string[] }[] = [];
  for (const o of outcomes) {
    if (!scenarios.some((s) => s.label === o.cell.scenarioLabel)) scenarios.push({ label: o.cell.scenarioLabel, words: o.cell.words });
    let k = kernels.find((x) => x.label === o.cell.kernelLabel);
    if (!k) {
      k = { kernel: o.cell.kernel, label: o.cell.kernelLabel, facts: kernelFacts([]), fixes: { present: [], absent: [], uncertain: [] }, wallSec: 0, cells: [] };
      kernels.push(k);
    }
    k.wallSec += o.wallSec;
    k.cells.push({
      scenario: o.cell.scenario, scenarioLabel: o.cell.scenarioLabel, words: o.cell.words, dir: o.dir, exitCode: o.exitCode,
      wallSec: Math.round(o.wallSec * 10) / 10, error: o.error, ...(o.thresholdsOk !== undefined ? { thresholdsOk: o.thresholdsOk } : {}),
      modes: o.result ? o.result.modes.map((m) => modeRow(m, o.result?.environment.conntrackColumns ?? [])) : [],
    });
  }
  for (const k of kernels) {
    const results = outcomes.filter((o) => o.cell.kernelLabel === k.label && o.result).map((o) => o.result as ResultFile);
    k.facts = kernelFacts(results);
    k.wallSec = Math.round(k.wallSec * 10) / 10;
    const version = fixesVersion(k.facts);
    const fixes = version ? assessKernel({ version, source: k.facts.kernelPackage ? 'deb-package' : 'uname', exact: /^\d+\.\d+\.\d+$/.test(version) }) : [];
    k.fixes = {
      present: fixes.filter((f) => f.status === 'present').map((f) => f.id),
      absent: fixes.filter((f) => f.status === 'absent').map((f) => f.id),
      uncertain: fixes.filter((f) => f.status === 'uncertain').map((f) => f.id),
    };
  }
  return { schema: MATRIX_SCHEMA, ...info, scenarios, kernels };
}

/**
 * Pure: the upstream version the fixes are judged on: a Debian package's own (5.10.262-1 -> 5.10.262: its ABI
 * name 5.10.0-46 says nothing of the point release), else the environment's kernelVersion.
 */
export function fixesVersion(f: Pick<KernelFacts, 'kernelPackage' | 'kernelVersion'>): string | null {
  const fromPackage = /^(?:\d+:)?(\d+\.\d+\.\d+)/.exec(f.kernelPackage?.version ?? '')?.[1];
  return fromPackage ?? f.kernelVersion;
}

/**
 * Pure: environment.kernelVersion as text: a string in these files, an object with its version in newer ones
 * (helper kver's upstream version: { version, source, exact }).
 */
export function versionText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  const inner = typeof v === 'object' && v !== null ? (v as { version?: unknown }).version : undefined;
  return typeof inner === 'string' ? inner : null;
}
