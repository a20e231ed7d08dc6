import type { Argv } from 'yargs';
import { UserError } from '../errors.js';
import { withStatistics } from '../analysis/runStatistics.js';
import { COMPARED_METRICS, VXLAN_COMPARED_METRICS } from '../analysis/comparisons.js';
import { diffResults } from '../analysis/diff.js';
import { loadResultFile, loadResults } from '../report/loadResults.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderHtml } from '../report/html.js';
import { renderDiff } from '../report/diffText.js';
import { redactResult } from '../report/resultFiles.js';
import { historyCommand, type HistoryFormat } from './history.js';
import { SCENARIOS } from '../scenarios/registry.js';
import { failLine } from './cliVoice.js';

export type ReportFormat = 'md' | 'html' | 'json';

/** `repro report FILE --format F`: the rendering on stdout (it is the document asked for). */
export async function reportCommand(file: string, format: ReportFormat, redact = false): Promise<string> {
  const loaded = withStatistics(await loadResultFile(file));
  const r = redact ? redactResult(loaded) : loaded;
  if (format === 'json') return JSON.stringify(r, null, 2) + '\n';
  const rows = SCENARIOS[r.scenario].rows;
  return format === 'html' ? renderHtml(r, rows) : renderMarkdown(r, rows);
}

export function parseFailOn(text: string): string[] {
  if (text === 'never' || text === '') return [];
  const list = text.split(',').map((s) => s.trim());
  for (const m of list) {
    if (!([...COMPARED_METRICS, ...VXLAN_COMPARED_METRICS] as readonly string[]).includes(m)) {
      throw new UserError(`--fail-on-worse: unknown metric "${m}" (use ${[...COMPARED_METRICS, ...VXLAN_COMPARED_METRICS].join(', ')} or never)`);
    }
  }
  return list;
}

/**
 * `repro diff OLD NEW`: the table on stdout (it is the document asked for, as audit's and report's), or the JSON
 * with --json; exit code 1 when a threshold is crossed, said on the last line (stderr with --json).
 */
export async function diffCommand(oldPath: string, newPath: string, failOn: string, json: boolean): Promise<number> {
  const failOnWorse = parseFailOn(failOn);
  const d = diffResults(await loadResults(oldPath), await loadResults(newPath), { failOnWorse });
  process.stdout.write(json ? JSON.stringify(d, null, 2) + '\n' : renderDiff(d) + '\n');
  if (d.failures.length === 0) return 0;
  (json ? process.stderr : process.stdout).write(failLine(`--fail-on-worse ${failOn}`, d.failures) + '\n');
  return 1;
}

/** Registers `report` and `diff` on the CLI; setExit receives each command's exit code. */
export function registerReportCommands<T>(y: Argv<T>, setExit: (code: number) => void): Argv<T> {
  return y
    .command(
      'report <result>',
      're-render a result.json (or the result.json in a directory) as Markdown, HTML or JSON with statistics, on stdout',
      (a) =>
        a
          .positional('result', { type: 'string', demandOption: true, describe: 'a result.json or a result directory' })
          .option('format', { type: 'string', choices: ['md', 'html', 'json'] as const, default: 'md', describe: 'md (ticket-ready), html (self-contained, charts), json (result with rates and comparisons)' })
          .option('redact', { type: 'boolean', default: false, describe: "leave the machine's host name out" }),
      async (argv) => {
        const file = /\.json$/.test(argv.result) ? argv.result : `${argv.result.replace(/\/$/, '')}/result.json`;
        process.stdout.write(await reportCommand(file, argv.format as ReportFormat, argv.redact));
        setExit(0);
      },
    )
    .command(
      'history <results..>',
      "the history of many results of one scenario (a nightly's): per mode the race rate with its interval, connect rate and p99 per run; runs whose kernel, rules, options or harness changed; changes the exact test finds real",
      (a) =>
        a
          .positional('results', { type: 'string', array: true, demandOption: true, describe: 'result.json files, result directories, repro run directories, or directories of them' })
          .option('format', { type: 'string', choices: ['md', 'html', 'json'] as const, default: 'md', describe: 'md (tables), html (self-contained, with a chart), json' }),
      async (argv) => {
        process.stdout.write(await historyCommand(argv.results, argv.format as HistoryFormat));
        setExit(0);
      },
    )
    .command(
      'diff <old> <new>',
      'compare two results (result.json files or results directories) per scenario and mode, with exact tests; exit 1 when a threshold is crossed',
      (a) =>
        a
          .positional('old', { type: 'string', demandOption: true })
          .positional('new', { type: 'string', demandOption: true })
          .option('fail-on-worse', { type: 'string', default: 'race', describe: `exit 1 when one of these metrics got significantly worse (${COMPARED_METRICS.join(',')}), or never` })
          .option('json', { type: 'boolean', default: false, describe: 'print the comparison as JSON on stdout' }),
      async (argv) => {
        setExit(await diffCommand(argv.old, argv.new, argv['fail-on-worse'], argv.json));
      },
    ) as unknown as Argv<T>;
}
