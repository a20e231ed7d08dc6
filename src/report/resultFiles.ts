import { access, mkdir } from 'node:fs/promises';
import { checkOutputDir, writeFileAtomic } from '../atomicWrite.js';
import path from 'node:path';
import { UserError } from '../errors.js';
import { withStatistics } from '../analysis/runStatistics.js';
import { renderMarkdown } from './markdown.js';
import { renderHtml } from './html.js';
import type { ScenarioRows } from './reportModel.js';
import type { ResultFile } from '../types.js';

/** results/<UTC time>-<scenario>-<run id>, relative to the working directory. */
export function defaultResultDir(r: Pick<ResultFile, 'scenario' | 'runId' | 'startedAt'>): string {
  const stamp = r.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return path.join('results', `${stamp}-${r.scenario}-${r.runId}`);
}

/** The files a scenario run writes into its directory. */
export const RUN_OUTPUTS = ['result.json', 'report.md', 'report.html'] as const;

/**
 * Before a run: its output directory (made when `create`, else checked only if it exists already) is ours to
 * write in (atomicWrite.ts) and holds none of `names` unless `force` — said before the run, not after it.
 */
export async function prepareOutputDir(dir: string, names: readonly string[], force: boolean, create = false): Promise<void> {
  if (create) await mkdir(dir, { recursive: true });
  else if (!(await access(dir).then(() => true, () => false))) return;
  await checkOutputDir(dir);
  if (force) return;
  for (const n of names) {
    const file = path.join(dir, n);
    const there = await access(file).then(() => true, () => false);
    if (there) throw new UserError(`${file} exists: repro does not replace a result (--force replaces it, or choose another --out)`);
  }
}

export async function writeResult(dir: string, r: ResultFile, force = false): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'result.json');
  await writeFileAtomic(file, JSON.stringify(r, null, 2) + '\n', { replace: force });
  return file;
}

export interface WrittenRun {
  /** The result as written: with per-mode rates and comparisons. */
  result: ResultFile;
  resultFile: string;
  markdownFile: string;
  htmlFile: string;
}

/** result.json (with statistics), report.md and report.html in dir. */
export async function writeRunOutputs(dir: string, raw: ResultFile, scenarioRows?: ScenarioRows, force = false): Promise<WrittenRun> {
  const result = withStatistics(raw);
  const resultFile = await writeResult(dir, result, force);
  const markdownFile = path.join(dir, 'report.md');
  const htmlFile = path.join(dir, 'report.html');
  await writeFileAtomic(markdownFile, renderMarkdown(result, scenarioRows), { replace: force });
  await writeFileAtomic(htmlFile, renderHtml(result, scenarioRows), { replace: force });
  return { result, resultFile, markdownFile, htmlFile };
}
