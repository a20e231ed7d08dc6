import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../atomicWrite.js';
import path from 'node:path';
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

/**
 * The reports' file name without extension: repro-<scenario>-<run id>, so two runs' reports attached to one
 * ticket neither collide nor need renaming (report.html twice would).
 */
export function reportBaseName(r: { scenario: string; runId: string }): string {
  return `repro-${r.scenario}-${r.runId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The result without what names the machine (its host name): for --redact, before anything is written. */
export function redactResult(r: ResultFile): ResultFile {
  const { hostname: _dropped, ...environment } = r.environment;
  return { ...r, environment } as ResultFile;
}

export async function writeResult(dir: string, r: ResultFile): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'result.json');
  await writeFileAtomic(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}

export interface WrittenRun {
  /** The result as written: with per-mode rates and comparisons. */
  result: ResultFile;
  resultFile: string;
  markdownFile: string;
  htmlFile: string;
}

/** result.json (with statistics) and the two reports, repro-<scenario>-<run id>.md and .html, in dir. */
export async function writeRunOutputs(dir: string, raw: ResultFile, scenarioRows?: ScenarioRows): Promise<WrittenRun> {
  const result = withStatistics(raw);
  const resultFile = await writeResult(dir, result);
  const markdownFile = path.join(dir, `${reportBaseName(result)}.md`);
  const htmlFile = path.join(dir, `${reportBaseName(result)}.html`);
  await writeFileAtomic(markdownFile, renderMarkdown(result, scenarioRows));
  await writeFileAtomic(htmlFile, renderHtml(result, scenarioRows));
  return { result, resultFile, markdownFile, htmlFile };
}
