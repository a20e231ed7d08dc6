import { buildReportModel, type ReportModel, type ScenarioRows, type Table } from './reportModel.js';
import { kernelVersionText } from '../analysis/kernelFixes.js';
import type { ResultFile } from '../types.js';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function mdTable(t: Table): string {
  const align = t.header.map((_, j) => (j === 0 || t.text ? ':--' : '--:'));
  return [t.header, align, ...t.rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
}

function details(summary: string, body: string): string {
  return `<details><summary>${summary}</summary>\n\n${body}\n\n</details>`;
}

function statusMark(s: string): string {
  return s === 'present' ? '✅ present' : s === 'absent' ? '❌ absent' : s === 'unknown' ? '❔ unknown' : '❔ uncertain';
}

/** report.md: ready to paste into a ticket. Verdict first, modes side by side, long parts folded. */
export function renderMarkdownModel(m: ReportModel): string {
  const r = m.result;
  const out: string[] = [];
  out.push(`# ${m.title}`, '', `**Verdict: ${m.headline}**`, '');
  for (const v of m.modeVerdicts) out.push(`- **${v.mode}**: ${v.verdict} — ${v.reason}`);
  for (const line of m.comparisonLines) out.push(`- ${line}`);
  for (const w of m.hostWarnings) out.push(`- **warning**: ${w}`);
  out.push('', '## Modes side by side', '', `${m.config}`, '', mdTable(m.modes), '');
  const notes = m.modeVerdicts.flatMap((v) => v.notes.map((n) => `- ${v.mode}: ${n}`));
  if (notes.length > 0) out.push('Notes:', '', ...notes, '');
  out.push('## Comparisons', '', 'Each mode against the first; exact conditional binomial test of two Poisson counts, Clopper-Pearson interval for the rate ratio.', '');
  out.push(m.comparisons.rows.length > 0 ? mdTable(m.comparisons) : '_One mode only: nothing to compare._', '');
  out.push('## Kernel counters', '', mdTable(m.counters), '');
  out.push(details('All counter deltas', mdTable(m.allCounters)), '');
  out.push(details('Rates per 100 000 attempts, every metric', mdTable(m.rates)), '');
  out.push('## Environment', '', mdTable(m.environment), '');
  out.push(`What kernel ${kernelVersionText(r.environment.kernelVersion)} can show (known conntrack/NAT changes):`, '');
  out.push(
    mdTable({
      text: true,
      header: ['change', 'race', 'here', 'basis', 'so'],
      rows: m.kernelFixes.map((f) => [f.change, f.race, statusMark(f.status), f.basis, f.meaning]),
    }),
    '',
    `_${m.kernelCaveat}_`,
    '',
  );
  out.push(details('conntrack sysctls', mdTable(m.conntrackSysctls)), '');
  out.push('## Reproduce', '', '```sh', m.command, '```', '');
  if (m.fullCommand) out.push(details('with every option spelled out', ['```sh', m.fullCommand, '```'].join('\n')), '');
  out.push(`<sub>signature bands: ${r.signatureBands.description}. Result file: repro/result@1, run ${r.runId}, ${r.startedAt} – ${r.finishedAt}.</sub>`, '');
  return out.join('\n');
}

export function renderMarkdown(r: ResultFile, scenarioRows?: ScenarioRows): string {
  return renderMarkdownModel(buildReportModel(r, scenarioRows));
}
