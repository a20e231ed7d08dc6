import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { historySeries } from '../analysis/history.js';
import { loadResults } from '../report/loadResults.js';
import { renderHistoryHtml, renderHistoryJson, renderHistoryMarkdown } from '../report/history.js';
import type { ResultFile } from '../types.js';

export type HistoryFormat = 'md' | 'html' | 'json';

/** More results than a nightly keeps in years; a bound on what one invocation reads. */
export const MAX_HISTORY_RESULTS = 2000;

/**
 * Every result under the paths, read through loadResults (one place for reading result files): a result.json, a
 * result directory, a `repro run` directory (one series per entry, by its name), or a directory of result
 * directories (one series per scenario: their names differ every run).
 */
export async function readHistoryInputs(paths: readonly string[]): Promise<{ label: string; source: string; result: ResultFile }[]> {
  const out: { label: string; source: string; result: ResultFile }[] = [];
  for (const p of paths) {
    const runDir = existsSync(path.join(p, 'summary.json'));
    for (const x of await loadResults(p)) {
      out.push({ label: runDir ? x.label : x.result.scenario, source: runDir ? path.join(p, x.label) : p, result: x.result });
      if (out.length > MAX_HISTORY_RESULTS) throw new UserError(`more than ${MAX_HISTORY_RESULTS} results under ${paths.join(' ')}: give fewer directories`);
    }
  }
  if (out.length === 0) throw new UserError('no results to read');
  return out;
}

/** `repro history DIR...`: the rendering on stdout. */
export async function historyCommand(paths: readonly string[], format: HistoryFormat): Promise<string> {
  let series;
  try {
    series = historySeries(await readHistoryInputs(paths));
  } catch (err) {
    if (err instanceof Error && !(err instanceof UserError) && /a history is of one scenario/.test(err.message)) throw new UserError(err.message);
    throw err;
  }
  return format === 'json' ? renderHistoryJson(series) : format === 'html' ? renderHistoryHtml(series) : renderHistoryMarkdown(series);
}
