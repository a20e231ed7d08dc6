import { renderTable } from './table.js';
import { buildReportModel, type ScenarioRows } from './reportModel.js';
import type { ResultFile } from '../types.js';

/** The modes side by side, one row per figure; then each verdict's reason. For stderr or a terminal. */
export function renderTerminal(input: ResultFile, resultPath?: string, scenarioRows?: ScenarioRows): string {
  const m = buildReportModel(input, scenarioRows);
  const r = m.result;
  const out: string[] = [];
  const env = r.environment;
  out.push(
    `repro ${r.scenario} · run ${r.runId} · ${env.backend} backend · kernel ${env.kernel} · iptables ${env.iptables.version} (${env.iptables.backend}) · ${env.cpus} CPUs`,
    m.config,
    '',
    renderTable(m.summary.header, m.summary.rows),
    '',
    `bands: ${r.signatureBands.description}`,
    '',
  );
  for (const v of m.modeVerdicts) {
    out.push(`${v.mode}: ${v.verdict} — ${v.reason}`);
    for (const n of v.notes) out.push(`  note: ${n}`);
  }
  if (m.comparisonLines.length > 0) out.push('', ...m.comparisonLines);
  out.push('', m.kernelLine);
  for (const w of m.hostWarnings) out.push(`warning: ${w}`);
  // The answers last, beside the verdict: what a reader of a long run's output sees first.
  if (m.answerLines.length > 0) out.push('', ...m.answerLines);
  out.push('', `verdict: ${r.verdict.toUpperCase()}${r.interrupted ? ' (interrupted: partial result)' : ''}`);
  if (resultPath) out.push(`result: ${resultPath}`);
  return out.join('\n');
}
