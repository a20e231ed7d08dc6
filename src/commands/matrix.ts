import path from 'node:path';
import type { Argv } from 'yargs';
import { UserError } from '../errors.js';
import { requireRoot } from '../host/preflight.js';
import { ScenarioFileError, loadScenarioFile } from '../scenarioFile/load.js';
import { cellsOf, cellsOfFile, parseKernels } from '../matrix/cells.js';
import { runMatrix } from '../matrix/run.js';
import { rateText } from '../matrix/render.js';

/** results/<UTC time>-matrix. */
function defaultMatrixDir(at: Date): string {
  return path.join('results', `${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-matrix`);
}

/** Registers `matrix` on the CLI; setExit receives its exit code. */
export function registerMatrixCommand<T>(y: Argv<T>, setExit: (code: number) => void): Argv<T> {
  return y.command(
    'matrix',
    'the same scenarios on several kernels (the host\'s and --kernel ones) in one run: one result and one report with each kernel\'s race rates, clash counters, SYN schedule and fixes (docs/kernels.md)',
    (a) =>
      a
        .option('kernels', { type: 'string', describe: 'comma-separated: host, and --kernel values (debian:bullseye, debian:bookworm, debian:trixie, a .deb, a bzImage)' })
        .option('scenario', { type: 'string', array: true, describe: 'a scenario command, repeatable, e.g. "tcp-syn --load burst"' })
        .option('file', { type: 'string', describe: 'a scenario file whose runs name their kernels (kernel:, none for the host) instead of --kernels/--scenario' })
        .option('out', { type: 'string', describe: 'results directory (default: results/<time>-matrix)' }),
    async (argv) => {
      const say = (t: string): void => void process.stderr.write(`· ${t}\n`);
      let cells;
      if (argv.file !== undefined) {
        if (argv.kernels !== undefined || argv.scenario !== undefined) throw new UserError('--file names the cells itself: give --file, or --kernels with --scenario');
        try {
          cells = cellsOfFile((await loadScenarioFile(argv.file)).runs);
        } catch (err) {
          if (err instanceof ScenarioFileError) throw new UserError(err.message);
          throw err;
        }
      } else {
        cells = cellsOf(parseKernels(argv.kernels ?? 'host'), (argv.scenario ?? []).map(String));
      }
      await requireRoot();
      const dir = argv.out ?? defaultMatrixDir(new Date());
      const { result, exitCode } = await runMatrix({ cells, dir, command: ['repro', ...process.argv.slice(2)].join(' '), say });
      for (const k of result.kernels) {
        for (const c of k.cells) for (const m of c.modes) say(`${k.label} · ${c.scenarioLabel} · ${m.mode}: race ${rateText(m.race)} per 100 000`);
      }
      say(`matrix: ${path.join(dir, 'result.json')}, ${path.join(dir, 'report.md')}, ${path.join(dir, 'report.html')}`);
      setExit(exitCode);
    },
  ) as unknown as Argv<T>;
}
