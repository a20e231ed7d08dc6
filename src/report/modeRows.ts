import { fmtMs, int } from './format.js';
import type { ModeResult, ResultFile } from '../types.js';

/** The configuration of a run in one line (sizes, ports, close mode, timeout). */
export function configLine(r: ResultFile): string {
  if (r.scenario === 'tcp-syn') {
    const c = r.config;
    const protocol = c.protocol === 'http' ? ` · http${c.keepalive ? ' keep-alive' : ', a connection per request'}` : '';
    const burst = (clients: number): string =>
      `${clients} clients, one source port for all each round (${(c.burstPorts ?? []).join('-')}), connected at one instant`;
    if (c.load === 'burst') {
      return `load burst: ${burst(c.clients)} · connect timeout ${c.connectTimeoutMs} ms · provoked rates, not a workload's`;
    }
    if (c.load === 'both' && c.burstPhase) {
      return `burst phase: ${burst(c.burstPhase.clients)} (provoked rates, not a workload's) · steady phase: ${c.clients} clients x ${c.workers} workers x ${c.concurrency} in flight · ports ${c.portRange.join('-')} · close ${c.close} · connect timeout ${c.connectTimeoutMs} ms`;
    }
    return `${c.clients} clients x ${c.workers} workers x ${c.concurrency} in flight · ports ${c.portRange.join('-')} · close ${c.close} · connect timeout ${c.connectTimeoutMs} ms${protocol}`;
  }
  return Object.entries(r.config)
    .filter(([k, v]) => k !== 'modes' && k !== 'backend' && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'))
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(' · ');
}

/** A table row: the label, then one cell per mode. */
export function modeRow(ms: readonly ModeResult[], label: string, f: (m: ModeResult) => string): string[] {
  return [label, ...ms.map(f)];
}

/** What one attempt is, by the attribution's unit: a DNS lookup (`lost-query`) or a connect. */
export function attemptNoun(ms: readonly ModeResult[]): 'lookup' | 'connect' {
  return ms.length > 0 && ms.every((m) => m.attribution.unit === 'lost-query') ? 'lookup' : 'connect';
}

/** The measurement rows every modes-side-by-side table starts with: size, failures, rate, latency, signatures. */
export function measurementRows(ms: readonly ModeResult[]): string[][] {
  const bandNames = [...new Set(ms.flatMap((m) => Object.keys(m.signatures)))];
  const row = (label: string, f: (m: ModeResult) => string): string[] => modeRow(ms, label, f);
  const noun = attemptNoun(ms);
  return [
    row('attempts', (m) => int(m.attempts)),
    row('failed', (m) => (m.failed === 0 ? '0' : `${int(m.failed)} (${Object.entries(m.failures).map(([k, v]) => `${k} ${v}`).join(', ')})`)),
    row(ms.some((m) => m.http) ? 'requests/s' : `${noun}s/s`, (m) => int(m.connectsPerSecond)),
    // How the load was made (native engine or a slower fallback): rates of runs on different paths do not compare.
    ...(ms.some((m) => m.connectPath ?? m.socketPath) ? [row('load path', (m) => m.connectPath ?? m.socketPath ?? '-')] : []),
    row(`${noun} p50`, (m) => fmtMs(m.latencyMs.p50)),
    row(`${noun} p99`, (m) => fmtMs(m.latencyMs.p99)),
    row(`${noun} p99.9`, (m) => fmtMs(m.latencyMs.p999)),
    row(`${noun} max`, (m) => fmtMs(m.latencyMs.max)),
    ...(ms.some((m) => m.http) ? httpRows(ms) : []),
    // The kernel schedule the bands follow (tcp-syn, vxlan): read from the clients' sysctls, or assumed.
    ...(ms.some((m) => m.synSchedule) ? [row('SYN retransmits at', (m) => (m.synSchedule ? synScheduleCell(m.synSchedule) : '-'))] : []),
    ...bandRows(ms, bandNames),
  ];
}

/**
 * One row per signature band with a stall in some mode; the bands where no mode stalled share one row of zeros
 * (a 6.5+ schedule has eleven bands, and ten rows of 0 hide the one that counts).
 */
function bandRows(ms: readonly ModeResult[], bandNames: readonly string[]): string[][] {
  const empty = bandNames.filter((b) => ms.every((m) => (m.signatures[b] ?? 0) === 0));
  const rows: string[][] = [];
  let emptyRowAt = -1;
  for (const b of bandNames) {
    if (!empty.includes(b) || empty.length === 1) rows.push(modeRow(ms, `stalls ~${b}`, (m) => int(m.signatures[b] ?? 0)));
    else if (emptyRowAt < 0) emptyRowAt = rows.push([]) - 1;
  }
  if (emptyRowAt >= 0) {
    const at = empty.map((b) => bandNames.indexOf(b));
    const contiguous = at.every((i, k) => k === 0 || i === (at[k - 1] ?? -2) + 1);
    const list = empty.length <= 3
      ? empty.map((b) => `~${b}`).join(', ')
      : contiguous ? `~${empty[0] ?? ''} … ~${empty[empty.length - 1] ?? ''} (${empty.length} bands)` : `in the ${empty.length} other bands`;
    rows[emptyRowAt] = modeRow(ms, `stalls ${list}`, () => '0');
  }
  return rows;
}

function synScheduleCell(s: NonNullable<ModeResult['synSchedule']>): string {
  const times = s.completionMs.slice(0, 6).map((t) => t / 1000).join(', ');
  return `${times}${s.completionMs.length > 6 ? ' ...' : ''} s${s.source === 'sysctl' ? '' : ' (assumed)'}`;
}

/** `--protocol http`: what the application saw (request latency), and how many connects the requests opened. */
function httpRows(ms: readonly ModeResult[]): string[][] {
  const row = (label: string, f: (h: NonNullable<ModeResult['http']>) => string): string[] => modeRow(ms, label, (m) => (m.http ? f(m.http) : '-'));
  return [
    row('new connections', (h) => int(h.connects.attempted)),
    row('request p50', (h) => fmtMs(h.requestLatencyMs.p50)),
    row('request p99', (h) => fmtMs(h.requestLatencyMs.p99)),
    row('request p99.9', (h) => fmtMs(h.requestLatencyMs.p999)),
    row('request max', (h) => fmtMs(h.requestLatencyMs.max)),
  ];
}
