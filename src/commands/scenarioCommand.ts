import { ProgressPrinter } from '../progress.js';
import { renderTerminal } from '../report/terminal.js';
import { defaultResultDir, writeResult } from '../report/resultFiles.js';
import { handleInterrupts } from './interrupts.js';
import type { ScenarioHooks, ScenarioProgress } from '../scenarios/hooks.js';
import type { ResultFile } from '../types.js';

/** Plain progress lines (a mode lasts seconds): at most one every 2 s per mode, plus the mode's last one. */
export function progressLines(progress: ProgressPrinter, noun: string): (p: ScenarioProgress) => void {
  let last = -Infinity;
  let mode = '';
  return (p) => {
    if (p.mode !== mode) {
      mode = p.mode;
      last = -Infinity;
    }
    if (p.elapsedMs - last < 2000 && p.attempts < p.target) return;
    last = p.elapsedMs;
    const n = (x: number): string => x.toLocaleString('en-US');
    progress.phase(`  [${p.index + 1}/${p.total}] ${p.mode}: ${n(p.attempts)}/${n(p.target)} ${noun}, stalls ${p.stalls}, failed ${p.failed}, ${(p.elapsedMs / 1000).toFixed(1)} s`);
  };
}

/**
 * The tail every scenario command shares, after validation and prerequisites: run with Ctrl-C handling
 * (the first stops the run and keeps a partial result, the second cleans up this run and exits), write
 * result.json, render the table on stderr, the JSON on stdout with --json. Returns the exit code.
 */
export async function runScenarioCommand(
  argv: { json: boolean; out: string | undefined },
  noun: string,
  run: (command: string, hooks: ScenarioHooks) => Promise<ResultFile>,
): Promise<number> {
  const progress = new ProgressPrinter(process.stderr);
  const interrupts = handleInterrupts((t) => progress.phase(t));
  const command = ['repro', ...process.argv.slice(2)].join(' ');
  try {
    const result = await run(command, {
      onRunId: (id) => interrupts.setRunId(id),
      onPhase: (t) => progress.phase(t),
      onProgress: progressLines(progress, noun),
      signal: interrupts.signal,
    });
    const file = await writeResult(argv.out ?? defaultResultDir(result), result);
    process.stderr.write('\n' + renderTerminal(result, file) + '\n');
    if (argv.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return result.interrupted ? 130 : 0;
  } finally {
    interrupts.dispose();
  }
}
