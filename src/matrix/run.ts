/**
 * `repro matrix`: every cell run through the scenario's own command (`repro <scenario> ... [--kernel K] --out
 * <dir>/<kernel>/<scenario>`), one after the other, so each cell's validation, VM, teardown and Ctrl-C handling are
 * exactly the command's; then one result (result.json, schema repro/matrix@1) and one report (report.md, report.html with its chart).
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import { EXIT, exitCodeOfSignal } from '../exitCodes.js';
import { writeFileAtomic } from '../atomicWrite.js';
import { loadResultFile } from '../report/loadResults.js';
import { evaluateRun } from '../scenarioFile/evaluate.js';
import { guestErrorMessage } from '../vm/runInVm.js';
import type { ResultFile } from '../types.js';
import type { MatrixCell } from './cells.js';
import { matrixResult, type CellOutcome, type MatrixResult } from './model.js';
import { matrixHtml, matrixMarkdown } from './render.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
/** A cell that finds the host's run lock taken waits and tries again, at most this long in all. */
const LOCK_WAIT_MS = 60 * 60_000;
const LOCK_RETRY_MS = 15_000;
const LOCK_HELD = /another repro run holds/;

interface ChildEnd {
  code: number | null;
  /** The child's stderr, its last 64 KiB (also passed through to ours as it came). */
  stderr: string;
}

function runChild(args: readonly string[], current: { child: ReturnType<typeof spawn> | null }): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    current.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      process.stderr.write(d);
      stderr = (stderr + d).slice(-65_536);
    });
    child.on('error', (err) => resolve({ code: null, stderr: errorMessage(err) }));
    child.on('close', (code, signal) => {
      current.child = null;
      resolve({ code: code ?? (signal ? exitCodeOfSignal(signal) : null), stderr });
    });
  });
}

export interface MatrixRunOptions {
  cells: readonly MatrixCell[];
  dir: string;
  command: string;
  say: (text: string) => void;
}

/** Run every cell, write result.json (repro/matrix@1), report.md and report.html into `dir`; returns the result. */
export async function runMatrix(o: MatrixRunOptions): Promise<{ result: MatrixResult; exitCode: number }> {
  await mkdir(o.dir, { recursive: true });
  const startedAt = new Date().toISOString();
  let interrupted = false;
  const current: { child: ReturnType<typeof spawn> | null } = { child: null };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!interrupted) o.say(`${sig}: stopping after the current cell (it writes a partial result)`);
    interrupted = true;
    if (sig === 'SIGTERM') current.child?.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const outcomes: CellOutcome[] = [];
  try {
    for (const [i, cell] of o.cells.entries()) {
      if (interrupted) break;
      const rel = path.join(cell.kernelLabel, cell.scenarioLabel);
      const args = [...cell.words, ...(cell.kernel !== null ? ['--kernel', cell.kernel] : []), '--out', path.join(o.dir, rel)];
      o.say(`cell ${i + 1}/${o.cells.length} ${cell.kernelLabel} × ${cell.scenarioLabel}: repro ${args.join(' ')}`);
      const t0 = Date.now();
      let end = await runChild(args, current);
      while (!interrupted && end.code !== EXIT.OK && LOCK_HELD.test(end.stderr) && Date.now() - t0 < LOCK_WAIT_MS) {
        o.say(`another repro run holds the host's run lock: cell ${i + 1} tries again in ${LOCK_RETRY_MS / 1000} s`);
        await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
        if (!interrupted) end = await runChild(args, current);
      }
      const wallSec = (Date.now() - t0) / 1000;
      let result: ResultFile | null = null;
      let error: string | null =
        end.code === EXIT.OK ? null : end.code === EXIT.INTERRUPTED ? 'interrupted (partial result)' : `exit ${end.code ?? 'none'}: ${lastError(end.stderr)}`;
      try {
        result = await loadResultFile(path.join(o.dir, rel, 'result.json'));
      } catch (err) {
        error = error ?? `no result: ${errorMessage(err)}`;
      }
      if (end.code === EXIT.INTERRUPTED) interrupted = true;
      const thresholdsOk = cell.run ? evaluateRun(cell.run, result, { dir: rel, durationSec: wallSec, exitCode: end.code, error }).ok : undefined;
      outcomes.push({ cell, dir: rel, exitCode: end.code, wallSec, error, result, ...(thresholdsOk !== undefined ? { thresholdsOk } : {}) });
      o.say(`cell ${cell.kernelLabel} × ${cell.scenarioLabel}: ${error ?? 'done'} (${Math.round(wallSec)} s)`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const result = matrixResult(outcomes, { command: o.command, startedAt, finishedAt: new Date().toISOString(), interrupted });
  await writeMatrixOutputs(o.dir, result);
  const failed = outcomes.some((x) => x.error !== null || x.thresholdsOk === false);
  return { result, exitCode: interrupted ? EXIT.INTERRUPTED : failed ? EXIT.FAILED : EXIT.OK };
}

/** The last "repro: ..." line of a cell's stderr with the lines that continue it, else its last line. */
function lastError(stderr: string): string {
  return guestErrorMessage(stderr.trimEnd()) ?? stderr.trimEnd().split('\n').at(-1) ?? '';
}

export async function writeMatrixOutputs(dir: string, r: MatrixResult): Promise<void> {
  await writeFileAtomic(path.join(dir, 'result.json'), JSON.stringify(r, null, 2) + '\n');
  await writeFileAtomic(path.join(dir, 'report.md'), matrixMarkdown(r));
  await writeFileAtomic(path.join(dir, 'report.html'), matrixHtml(r));
}
