import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { RESULT_SCHEMA, type KernelVersion, type KernelVersionSource, type ResultFile } from '../types.js';
import type { LabelledResult } from '../analysis/diff.js';
import { upstreamKernelVersion } from '../host/kernelVersion.js';

const SOURCES: readonly unknown[] = ['version-signature', 'proc-version', 'deb-package', 'uname'] satisfies KernelVersionSource[];

function isKernelVersion(v: unknown): v is KernelVersion {
  if (typeof v !== 'object' || v === null) return false;
  const k = v as Record<string, unknown>;
  return typeof k['version'] === 'string' && k['version'].length <= 64 && typeof k['exact'] === 'boolean' && SOURCES.includes(k['source']);
}

/** Read one result.json; a wrong or missing file is a one-line UserError naming it. */
export async function loadResultFile(file: string): Promise<ResultFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${errorMessage(err)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file} is not JSON: ${errorMessage(err)}`);
  }
  const r = data as Partial<ResultFile> | null;
  if (!r || typeof r !== 'object' || r.schema !== RESULT_SCHEMA || !Array.isArray(r.modes) || !r.environment) {
    throw new UserError(`${file} is not a repro result (expected "schema": "${RESULT_SCHEMA}")`);
  }
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
