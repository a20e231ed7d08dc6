import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { checkEncoded } from '../histogram.js';
import { printable, readWholeInRoot } from '../host/safeRead.js';
import { RESULT_SCHEMA, type KernelVersion, type KernelVersionSource, type ResultFile, type ScenarioName } from '../types.js';
import type { LabelledResult } from '../analysis/diff.js';
import { upstreamKernelVersion } from '../host/kernelVersion.js';

const SOURCES: readonly unknown[] = ['version-signature', 'proc-version', 'deb-package', 'uname'] satisfies KernelVersionSource[];

function isKernelVersion(v: unknown): v is KernelVersion {
  if (typeof v !== 'object' || v === null) return false;
  const k = v as Record<string, unknown>;
  return typeof k['version'] === 'string' && k['version'].length <= 64 && typeof k['exact'] === 'boolean' && SOURCES.includes(k['source']);
}

/** Scenarios a result may be of (types.ts's ScenarioName; the registry is a layer above). */
const SCENARIOS: Record<ScenarioName, true> = { 'tcp-syn': true, dns: true, vxlan: true };

/** The largest result.json read (ours are well under 1 MiB; captures keep 100 records a mode). */
export const MAX_RESULT_BYTES = 16 * 1024 * 1024;

/**
 * Where a result's shape is wrong, or null. Beyond the schema tag: the fields every renderer reads are of their
 * type, and every histogram (a field whose name ends in "istogram", at any depth of a mode) passes checkEncoded —
 * bounded inflate and a sane header — before anything decodes it.
 */
function shapeProblem(r: Record<string, unknown>): string | null {
  if (r['schema'] !== RESULT_SCHEMA) return `expected "schema": "${RESULT_SCHEMA}"`;
  if (typeof r['scenario'] !== 'string' || !Object.hasOwn(SCENARIOS, r['scenario'])) return '"scenario" is not a scenario of repro';
  for (const k of ['runId', 'startedAt', 'finishedAt', 'command', 'summary']) if (typeof r[k] !== 'string') return `"${k}" is not a string`;
  if (typeof r['interrupted'] !== 'boolean') return '"interrupted" is not a boolean';
  for (const k of ['environment', 'config']) if (!r[k] || typeof r[k] !== 'object' || Array.isArray(r[k])) return `"${k}" is not an object`;
  if (!Array.isArray(r['modes'])) return '"modes" is not an array';
  for (const [i, m] of (r['modes'] as unknown[]).entries()) {
    if (!m || typeof m !== 'object' || typeof (m as Record<string, unknown>)['mode'] !== 'string') return `modes[${i}] has no "mode" name`;
    const bad = histogramProblem(m, `modes[${i}]`, 0);
    if (bad) return bad;
  }
  return null;
}

function histogramProblem(v: unknown, at: string, depth: number): string | null {
  if (depth > 8 || !v || typeof v !== 'object') return null;
  for (const [k, x] of Object.entries(v)) {
    if (/istogram$/.test(k) && x !== null && x !== undefined) {
      try {
        checkEncoded(x as string);
      } catch (err) {
        return `${at}.${k}: ${errorMessage(err)}`;
      }
    } else {
      const bad = histogramProblem(x, Array.isArray(v) ? `${at}[${k}]` : `${at}.${k}`, depth + 1);
      if (bad) return bad;
    }
  }
  return null;
}

/**
 * Read one result.json: the one loader for result files whoever wrote them (report, diff, run, history). A regular
 * file of at most MAX_RESULT_BYTES (no FIFO, no device), JSON, and of a result's shape (shapeProblem); anything
 * else is a one-line UserError naming the file.
 */
export async function loadResultFile(file: string): Promise<ResultFile> {
  let text: string;
  try {
    text = await readWholeInRoot('/', path.resolve(file), MAX_RESULT_BYTES);
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${printable(errorMessage(err))}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file} is not JSON: ${errorMessage(err)}`);
  }
  const problem = data && typeof data === 'object' && !Array.isArray(data) ? shapeProblem(data as Record<string, unknown>) : 'not a JSON object';
  if (problem) throw new UserError(`${file} is not a repro result: ${printable(problem)}`);
  const r = data as Partial<ResultFile>;
  // Files written before kernelVersion said its source held uname's version as a string: read it as uname's (so is
  // anything else that is not the {version, source, exact} this version writes).
  const env = r.environment as { kernel: unknown; kernelVersion: unknown };
  if (!isKernelVersion(env.kernelVersion)) {
    env.kernelVersion = upstreamKernelVersion({ release: typeof env.kernel === 'string' ? env.kernel : '' });
  }
  return r as ResultFile;
}

/**
 * A result.json, or a results directory: its own result.json, or one per subdirectory (a `repro run` directory,
 * each labelled by its subdirectory's name).
 */
export async function loadResults(target: string): Promise<LabelledResult[]> {
  const s = await stat(target).catch(() => null);
  if (!s) throw new UserError(`${target}: no such file or directory`);
  if (s.isFile()) {
    const result = await loadResultFile(target);
    return [{ label: result.scenario, result }];
  }
  const own = path.join(target, 'result.json');
  if (await stat(own).catch(() => null)) {
    const result = await loadResultFile(own);
    return [{ label: result.scenario, result }];
  }
  const out: LabelledResult[] = [];
  for (const e of (await readdir(target, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const f = path.join(target, e.name, 'result.json');
    if (e.isDirectory() && (await stat(f).catch(() => null))) out.push({ label: e.name, result: await loadResultFile(f) });
  }
  if (out.length === 0) throw new UserError(`${target}: no result.json in it or in its subdirectories`);
  return out;
}
