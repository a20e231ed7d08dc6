import { renderJunit, type JunitSuite } from './junit.js';
import { mdTable } from '../report/markdown.js';
import { reportBaseName } from '../report/resultFiles.js';
import type { RunOutcome } from './evaluate.js';

export interface RunSummary {
  schema: 'repro/run-summary@1';
  file: string;
  name: string;
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  runs: RunOutcome[];
}

/** Pure: the thresholds of every run as JUnit suites (one per run, one case per threshold and mode). */
export function summaryJunit(s: RunSummary): string {
  const suites: JunitSuite[] = s.runs.map((r) => ({
    name: `${s.name}.${r.name}`,
    timeSec: r.durationSec,
    cases: [
      ...(r.error !== null
        ? [{ classname: `repro.${s.name}.${r.name}`, name: 'run', timeSec: r.durationSec, error: `${r.error}${r.exitCode !== null ? ` (exit code ${r.exitCode})` : ''}` }]
        : []),
      ...r.thresholds.map((t) => ({
        classname: `repro.${s.name}.${r.name}.${t.mode}`,
        name: t.threshold,
        timeSec: 0,
        output: t.message,
        ...(t.ok ? {} : { failure: `${t.mode}: ${t.threshold} failed: ${t.message}` }),
      })),
    ],
  }));
  return renderJunit(`repro ${s.name}`, suites);
}

/** Pure: summary.md, the run's outcome for a human (and a CI job summary). */
export function summaryMarkdown(s: RunSummary): string {
  const out = [`# repro run ${s.name}: ${s.ok ? 'PASS' : 'FAIL'}`, '', `${s.file} · ${s.startedAt} – ${s.finishedAt}`, ''];
  out.push(
    mdTable({
      text: true,
      header: ['run', 'scenario', 'verdict', 'thresholds', 'result'],
      rows: s.runs.map((r) => [
        r.name,
        r.scenario,
        r.verdict ?? '-',
        `${r.thresholds.filter((t) => t.ok).length}/${r.thresholds.length} hold`,
        r.error ?? (r.ok ? 'pass' : 'FAIL'),
      ]),
    }),
    '',
  );
  for (const r of s.runs) {
    if (r.thresholds.length === 0) continue;
    const base = r.runId === null ? null : `${r.dir}/${reportBaseName({ scenario: r.scenario, runId: r.runId })}`;
    const reports = base === null ? '' : `[report](${base}.md) · [html](${base}.html) · `;
    out.push(`## ${r.name}`, '', `${reports}[result.json](${r.dir}/result.json)`, '');
    out.push(mdTable({ text: true, header: ['mode', 'threshold', 'measured', ''], rows: r.thresholds.map((t) => [t.mode, t.threshold, t.message, t.ok ? '✅' : '❌']) }), '');
  }
  return out.join('\n');
}
