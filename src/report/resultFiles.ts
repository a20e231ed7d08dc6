import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResultFile } from '../types.js';

/** results/<UTC time>-<scenario>-<run id>, relative to the working directory. */
export function defaultResultDir(r: Pick<ResultFile, 'scenario' | 'runId' | 'startedAt'>): string {
  const stamp = r.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return path.join('results', `${stamp}-${r.scenario}-${r.runId}`);
}

export async function writeResult(dir: string, r: ResultFile): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'result.json');
  await writeFile(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}
