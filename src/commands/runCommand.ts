import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { UserError, errorMessage } from '../errors.js';
import { EXIT, exitCodeOfSignal } from '../exitCodes.js';
import { ScenarioFileError, loadScenarioFile, type ScenarioFile } from '../scenarioFile/load.js';
import { cliArgsFor, evaluateRun, type RunOutcome } from '../scenarioFile/evaluate.js';
import { loadResultFile } from '../report/loadResults.js';
import { prepareOutputDir } from '../report/resultFiles.js';
import { writeFileAtomic } from '../atomicWrite.js';
import { summaryJunit, summaryMarkdown, type RunSummary } from '../scenarioFile/summary.js';
import type { ResultFile } from '../types.js';
import { failLine } from './cliVoice.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

/** results/<UTC time>-run-<file's name>. */
export function defaultRunDir(name: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return path.join('results', `${stamp}-run-${name}`);
}

/**
 * Run one entry through the scenario's own command (`repro <scenario> ...`), so validation, backend choice,
 * progress, teardown and Ctrl-C handling are exactly those of the command. Its table and progress go to our
 * stderr; a terminal's Ctrl-C reaches it directly (same process group); a SIGTERM to us is passed on.
 */
function runChild(args: string[], stopping: { child: ReturnType<typeof spawn> | null }): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    stopping.child = child;
    child.on('error', () => resolve(null));
    child.on('close', (code, signal) => {
      stopping.child = null;
      resolve(code ?? (signal ? exitCodeOfSignal(signal) : null));
    });
  });
}

const SUMMARY_FILES = ['summary.json', 'summary.md', 'junit.xml'] as const;

export interface RunFileOptions {
  out: string | undefined;
  /** Replace the results already in `out` (the summary and each run's). */
  force?: boolean;
  say: (text: string) => void;
}

/** Load a scenario file; its problems go to stderr one per line (file:line:col: ...), then a one-line error. */
async function loadListingProblems(file: string): Promise<ScenarioFile> {
  try {
    return await loadScenarioFile(file);
  } catch (err) {
    if (!(err instanceof ScenarioFileError)) throw err;
    for (const p of err.problems) process.stderr.write(`${file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}\n`);
    throw new UserError(`${file} is not a valid scenario file: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} (listed above)`);
  }
}

/** `repro run FILE`: every run in order, thresholds checked, one results directory. Returns the exit code. */
export async function runScenarioFile(file: string, opts: RunFileOptions): Promise<number> {
  const sf: ScenarioFile = await loadListingProblems(file);
  const startedAt = new Date();
  const dir = opts.out ?? defaultRunDir(sf.name, startedAt);
  const force = opts.force === true;
  await prepareOutputDir(dir, SUMMARY_FILES, force, true);

  let interrupted = false;
  const current: { child: ReturnType<typeof spawn> | null } = { child: null };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!interrupted) opts.say(`${sig}: stopping after the current run (it writes a partial result)`);
    interrupted = true;
    // A terminal's Ctrl-C already reached the child; a SIGTERM sent to us alone did not.
    if (sig === 'SIGTERM') current.child?.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const outcomes: RunOutcome[] = [];
  try {
    for (const [i, run] of sf.runs.entries()) {
      if (interrupted) break;
      const runDir = path.join(dir, run.name);
      const args = cliArgsFor(run, runDir, force);
      opts.say(`run ${i + 1}/${sf.runs.length} ${run.name}: repro ${args.join(' ')}`);
      const t0 = Date.now();
      const code = await runChild(args, current);
      const durationSec = (Date.now() - t0) / 1000;
      let result: ResultFile | null = null;
      let error: string | null = code === 0 ? null : `repro ${run.scenario} exited with code ${code ?? 'none'}`;
      try {
        result = await loadResultFile(path.join(runDir, 'result.json'));
      } catch (err) {
        error = error ?? `no result: ${errorMessage(err)}`;
      }
      if (code === EXIT.INTERRUPTED) interrupted = true;
      const outcome = evaluateRun(run, result, { dir: run.name, durationSec, exitCode: code, error });
      outcomes.push(outcome);
      const failed = outcome.thresholds.filter((t) => !t.ok);
      opts.say(
        `run ${run.name}: ${outcome.ok ? 'PASS' : 'FAIL'} — ${outcome.thresholds.length - failed.length}/${outcome.thresholds.length} thresholds hold` +
          (outcome.error ? `; ${outcome.error}` : '') +
          failed.map((t) => `\n    ✗ ${t.mode}: ${t.threshold} (${t.message})`).join(''),
      );
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const summary: RunSummary = {
    schema: 'repro/run-summary@1',
    file,
    name: sf.name,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    ok: !interrupted && outcomes.length === sf.runs.length && outcomes.every((o) => o.ok),
    runs: outcomes,
  };
  const texts = [JSON.stringify(summary, null, 2) + '\n', summaryMarkdown(summary), summaryJunit(summary)];
  for (const [i, name] of SUMMARY_FILES.entries()) await writeFileAtomic(path.join(dir, name), texts[i] ?? '', { replace: force });
  opts.say(`${summary.ok ? 'PASS' : 'FAIL'}: ${outcomes.filter((o) => o.ok).length}/${sf.runs.length} runs pass; results in ${dir} (summary.md, junit.xml)`);
  if (interrupted) return EXIT.INTERRUPTED;
  if (summary.ok) return EXIT.OK;
  const crossed = outcomes.flatMap((o) => o.thresholds.filter((t) => !t.ok).map((t) => `${o.name} ${t.mode}: ${t.threshold} (${t.message})`));
  const errors = outcomes.flatMap((o) => (o.error ? [`${o.name}: ${o.error}`] : []));
  // A run that failed to run crossed no threshold: the line says so rather than blame the file's rules.
  opts.say(crossed.length > 0 ? failLine(`the thresholds of ${file}`, [...crossed, ...errors]) : `exit 1: ${errors.join('; ')}`);
  return EXIT.FAILED;
}

/** Registers `run` on the CLI; setExit receives its exit code. */
export function registerRunCommand<T>(y: Argv<T>, setExit: (code: number) => void): Argv<T> {
  return y.command(
    'run <file>',
    'run every entry of a scenario file (scenarios/*.yaml or .json) and check its thresholds; one results directory with summary.md and junit.xml; exit 1 when a threshold fails',
    (a) =>
      a
        .positional('file', { type: 'string', demandOption: true, describe: 'the scenario file' })
        .option('out', { type: 'string', describe: 'results directory (default: results/<time>-run-<name>)' })
        .option('force', { type: 'boolean', default: false, describe: 'replace the results already in --out (the summary and each run\'s)' })
        .option('check', { type: 'boolean', default: false, describe: 'only validate the file (schema, options, thresholds) and list its runs' }),
    async (argv) => {
      const say = (t: string): void => void process.stderr.write(`· ${t}\n`);
      if (argv.check) {
        const sf = await loadListingProblems(argv.file);
        for (const r of sf.runs) say(`${r.name}: repro ${cliArgsFor(r, `<dir>/${r.name}`).join(' ')} · modes ${r.expectedModes.join(', ')} · ${Object.values(r.thresholds).flat().length} thresholds`);
        say(`${argv.file}: valid (${sf.runs.length} runs)`);
        setExit(EXIT.OK);
        return;
      }
      setExit(await runScenarioFile(argv.file, { out: argv.out, force: argv.force, say }));
    },
  ) as unknown as Argv<T>;
}
