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

/**
 * A part a browser would fold, as a plain subsection: raw <details> shows as text in Jira and in many viewers, so
 * report.md carries no HTML at all.
 */
function section(title: string, body: string): string {
  return `### ${title}\n\n${body}`;
}

function statusMark(s: string): string {
  return s === 'present' ? '✅ present' : s === 'absent' ? '❌ absent' : s === 'unknown' ? '❔ unknown' : '❔ uncertain';
}

/** report.md: ready to paste into a ticket. Verdict first, modes side by side, long parts folded. */
export function renderMarkdownModel(m: ReportModel): string {
  const r = m.result;
  const out: string[] = [];
  out.push(`# ${m.title}`, '', `**Verdict: ${m.headline}**`, '');
  if (m.answerLines.length > 0) out.push(...m.answerLines.map((l) => `- ${l}`), '');
  for (const v of m.modeVerdicts) out.push(`- **${v.mode}**: ${v.verdict} — ${v.reason}`);
  for (const line of m.comparisonLines) out.push(`- ${line}`);
  for (const w of m.hostWarnings) out.push(`- **warning**: ${w}`);
  if (m.remediation.length > 0) out.push('', '## What to do', '', ...m.remediation.map((l) => `- ${l}`));
  out.push('', '## Modes side by side', '', `${m.config}`, '', mdTable(m.modes), '');
  const notes = m.modeVerdicts.flatMap((v) => v.notes.map((n) => `- ${v.mode}: ${n}`));
  if (notes.length > 0) out.push('Notes:', '', ...notes, '');
  out.push('## Comparisons', '', 'Each mode against the first; attempts that stalled, within one phase; the central exact conditional binomial test and its inversion, the Clopper-Pearson interval for the rate ratio (the vxlan double SNAT share: Fisher exact test and the odds ratio).', '');
  out.push(m.comparisons.rows.length > 0 ? mdTable(m.comparisons) : '_One mode only: nothing to compare._', '');
  out.push('## Kernel counters', '', mdTable(m.counters), '');
  out.push(section('All counter deltas', mdTable(m.allCounters)), '');
  out.push(section('Rates per 100 000 attempts, every metric', mdTable(m.rates)), '');
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
  out.push(section('conntrack sysctls', mdTable(m.conntrackSysctls)), '');
  out.push('## Reproduce', '', '```sh', m.command, '```', '');
  if (m.fullCommand) out.push('With every option spelled out:', '', '```sh', m.fullCommand, '```', '');
  out.push(`_Signature bands: ${r.signatureBands.description}. Result file: repro/result@1, run ${r.runId}, ${r.startedAt} – ${r.finishedAt}._`, '');
  return out.join('\n');
}

export function renderMarkdown(r: ResultFile, scenarioRows?: ScenarioRows): string {
  return renderMarkdownModel(buildReportModel(r, scenarioRows));
}
