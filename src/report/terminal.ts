import { renderTable } from './table.js';
import { vxlanRows } from './vxlanRows.js';
import type { ModeResult, ResultFile } from '../types.js';

function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function int(n: number): string {
  return n.toLocaleString('en-US');
}

function delta(n: number | undefined): string {
  return n === undefined ? '-' : n === 0 ? '0' : `+${int(n)}`;
}

function configLine(r: ResultFile): string {
  if (r.scenario === 'tcp-syn') {
    const c = r.config;
    return `${c.clients} clients x ${c.workers} workers x ${c.concurrency} in flight · ports ${c.portRange.join('-')} · close ${c.close} · connect timeout ${c.connectTimeoutMs} ms`;
  }
  return Object.entries(r.config)
    .filter(([k, v]) => k !== 'modes' && k !== 'backend' && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'))
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(' · ');
}

/** The modes side by side, one row per figure; then each verdict's reason. For stderr or a terminal. */
export function renderTerminal(r: ResultFile, resultPath?: string): string {
  const ms = r.modes;
  const bandNames = [...new Set(ms.flatMap((m) => Object.keys(m.signatures)))];
  const row = (label: string, f: (m: ModeResult) => string): string[] => [label, ...ms.map(f)];
  const rows: string[][] = [
    row('attempts', (m) => int(m.attempts)),
    row('failed', (m) => (m.failed === 0 ? '0' : `${int(m.failed)} (${Object.entries(m.failures).map(([k, v]) => `${k} ${v}`).join(', ')})`)),
    row('connects/s', (m) => int(m.connectsPerSecond)),
    row('connect p50', (m) => fmtMs(m.latencyMs.p50)),
    row('connect p99', (m) => fmtMs(m.latencyMs.p99)),
    row('connect p99.9', (m) => fmtMs(m.latencyMs.p999)),
    row('connect max', (m) => fmtMs(m.latencyMs.max)),
    ...bandNames.map((b) => row(`stalls ~${b}`, (m) => int(m.signatures[b] ?? 0))),
    row('slow, no band', (m) => int(m.slowOutsideBands)),
    row('conntrack insert_failed', (m) => delta(m.counters.conntrack['insert_failed'])),
    row('conntrack drop', (m) => delta(m.counters.conntrack['drop'])),
    row('clients SynRetrans', (m) => delta(m.counters.clients['TcpExtTCPSynRetrans'])),
    row('server ListenOverflows', (m) => delta(m.counters.server['TcpExtListenOverflows'])),
    row('server ListenDrops', (m) => delta(m.counters.server['TcpExtListenDrops'])),
    row('lost SYNs: race', (m) => int(m.attribution.conntrackRace)),
    row('lost SYNs: server', (m) => int(m.attribution.serverOverload)),
    row('lost SYNs: unexplained', (m) => int(m.attribution.unexplained)),
    ...(r.scenario === 'vxlan' ? vxlanRows(ms) : []),
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
  out.push('', `verdict: ${r.verdict.toUpperCase()}${r.interrupted ? ' (interrupted: partial result)' : ''}`);
  if (resultPath) out.push(`result: ${resultPath}`);
  return out.join('\n');
}
