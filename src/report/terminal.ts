import { renderTable } from './table.js';
import { vxlanRows } from '../scenarios/vxlan/rows.js';
import { dnsRows } from '../scenarios/dns/rows.js';
import { delta, int } from './format.js';
import { attemptNoun, configLine, measurementRows, modeRow } from './modeRows.js';
import { assessKernel } from '../analysis/kernelFixes.js';
import { hostWarnings } from '../analysis/hostWarnings.js';
import { headlineMetric } from '../analysis/comparisons.js';
import type { ModeResult, ResultFile } from '../types.js';

/** One line: which known conntrack/NAT changes the kernel carries (details in report.md / report.html). */
export function kernelLine(version: string): string {
  const fixes = assessKernel(version);
  const list = (st: string): string => fixes.filter((f) => f.status === st).map((f) => f.id).join(', ');
  const parts = [`kernel ${version} carries ${fixes.filter((f) => f.status === 'present').length} of ${fixes.length} known conntrack/NAT changes`];
  if (list('absent')) parts.push(`lacks: ${list('absent')}`);
  if (list('uncertain')) parts.push(`uncertain: ${list('uncertain')}`);
  return parts.join('; ');
}

/** The modes side by side, one row per figure; then each verdict's reason. For stderr or a terminal. */
export function renderTerminal(r: ResultFile, resultPath?: string): string {
  const ms = r.modes;
  const row = (label: string, f: (m: ModeResult) => string): string[] => modeRow(ms, label, f);
  const lost = attemptNoun(ms) === 'lookup' ? 'lost queries' : 'lost SYNs';
  const rows: string[][] = [
    ...measurementRows(ms),
    row('slow, no band', (m) => int(m.slowOutsideBands)),
    row('conntrack insert_failed', (m) => delta(m.counters.conntrack['insert_failed'])),
    row('conntrack drop', (m) => delta(m.counters.conntrack['drop'])),
    row('clients SynRetrans', (m) => delta(m.counters.clients['TcpExtTCPSynRetrans'])),
    row('server ListenOverflows', (m) => delta(m.counters.server['TcpExtListenOverflows'])),
    row('server ListenDrops', (m) => delta(m.counters.server['TcpExtListenDrops'])),
    row(`${lost}: race`, (m) => int(m.attribution.conntrackRace)),
    row(`${lost}: server`, (m) => int(m.attribution.serverOverload)),
    row(`${lost}: unexplained`, (m) => int(m.attribution.unexplained)),
    ...(r.scenario === 'vxlan' ? vxlanRows(ms) : []),
    ...(r.scenario === 'dns' ? dnsRows(ms) : []),
    row('verdict', (m) => m.verdict.toUpperCase()),
  ];
  const out: string[] = [];
  const env = r.environment;
  out.push(
    `repro ${r.scenario} · run ${r.runId} · ${env.backend} backend · kernel ${env.kernel} · iptables ${env.iptables.version} (${env.iptables.backend}) · ${env.cpus} CPUs`,
    configLine(r),
    '',
    renderTable(['', ...ms.map((m) => m.mode)], rows),
    '',
    `bands: ${r.signatureBands.description}`,
    '',
  );
  for (const m of ms) {
    out.push(`${m.mode}: ${m.verdict} — ${m.reason}`);
    for (const n of m.notes) out.push(`  note: ${n}`);
  }
  const race = (r.comparisons ?? []).filter((c) => c.metric === headlineMetric(r.comparisons ?? []));
  if (race.length > 0) out.push('');
  for (const c of race) out.push(`${c.candidate} vs ${c.baseline}: ${c.verdict} — ${c.reason}`);
  out.push('', kernelLine(r.environment.kernelVersion));
  for (const w of hostWarnings(r.environment)) out.push(`warning: ${w}`);
  out.push('', `verdict: ${r.verdict.toUpperCase()}${r.interrupted ? ' (interrupted: partial result)' : ''}`);
  if (resultPath) out.push(`result: ${resultPath}`);
  return out.join('\n');
}
