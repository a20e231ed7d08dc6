import { ProgressPrinter } from './progress.js';
import { renderTerminal } from '../report/terminal.js';
import { defaultResultDir, writeRunOutputs } from '../report/resultFiles.js';
import { handleInterrupts } from './interrupts.js';
import type { ScenarioHooks, ScenarioProgress } from '../runner/hooks.js';
import type { ResultFile } from '../types.js';

/** Progress of a scenario's load: a bar per mode on a TTY, plain periodic lines otherwise (src/progress.ts). */
export function progressLines(progress: ProgressPrinter, noun: string): (p: ScenarioProgress) => void {
  return (p) => progress.progress(p, noun);
}

/**
 * Write result.json (with rates and comparisons), report.md and report.html; the table on stderr, the JSON on
 * stdout with --json. Returns the exit code: 130 for an interrupted run, else 0.
 */
export async function writeAndRender(argv: { json: boolean; out: string | undefined }, raw: ResultFile): Promise<number> {
  const w = await writeRunOutputs(argv.out ?? defaultResultDir(raw), raw);
  process.stderr.write('\n' + renderTerminal(w.result, w.resultFile) + '\n');
  process.stderr.write(`reports: ${w.markdownFile}, ${w.htmlFile}\n`);
  if (argv.json) process.stdout.write(JSON.stringify(w.result, null, 2) + '\n');
  return w.result.interrupted ? 130 : 0;
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
    return await writeAndRender(argv, result);
  } finally {
    interrupts.dispose();
  }
}
