/**
 * Debian's `dnsperf` (DNS-OARC, 2.x) as the bench's baseline: its query file, its statistics block, and the
 * CPU it used (bash's `times` after it ran). Pure text in, figures out.
 */
import { lookupName, type QueryType } from '../agents/dns/packets.js';

/**
 * dnsperf's data file: one "name type" per line, the A and the AAAA of each lookup together, as our clients ask.
 * In chunks of at most `chunk` lookups, so a file of any size is written in constant memory.
 */
export function* dnsperfQueryFile(zone: string, firstLookup: number, lookups: number, chunk = 1000): Generator<string> {
  const types: readonly QueryType[] = ['A', 'AAAA'];
  for (let from = firstLookup; from < firstLookup + lookups; from += chunk) {
    let text = '';
    for (let n = from; n < Math.min(from + chunk, firstLookup + lookups); n++) {
      const name = lookupName(zone, n);
      for (const t of types) text += `${name} ${t}\n`;
    }
    yield text;
  }
}

export interface DnsperfFigures {
  sent: number;
  completed: number;
  lost: number;
  /** Responses by rcode name (NOERROR, NXDOMAIN, ...). */
  responseCodes: Record<string, number>;
  runTimeSeconds: number;
  queriesPerSecond: number;
  averageLatencySeconds: number | null;
}

function field(text: string, label: string): string | null {
  const m = new RegExp(`^\\s*${label}:\\s*(.+)$`, 'm').exec(text);
  return m?.[1]?.trim() ?? null;
}

function numberField(text: string, label: string): number {
  const v = field(text, label);
  const n = v === null ? NaN : Number(/^[\d.]+/.exec(v)?.[0]);
  if (!Number.isFinite(n)) throw new Error(`dnsperf output has no "${label}" figure`);
  return n;
}

/** dnsperf's "Statistics:" block; throws when it is missing (dnsperf failed before measuring). */
export function parseDnsperfOutput(text: string): DnsperfFigures {
  const stats = text.slice(text.indexOf('Statistics:'));
  if (!text.includes('Statistics:')) throw new Error(`dnsperf printed no statistics: ${text.trim().split('\n').slice(-3).join(' | ')}`);
  const responseCodes: Record<string, number> = {};
  const codes = field(stats, 'Response codes') ?? '';
  for (const m of codes.matchAll(/([A-Z]+) (\d+)/g)) responseCodes[m[1] ?? '?'] = Number(m[2]);
  const avg = /Average Latency \(s\):\s*([\d.]+)/.exec(stats);
  return {
    sent: numberField(stats, 'Queries sent'),
    completed: numberField(stats, 'Queries completed'),
    lost: numberField(stats, 'Queries lost'),
    responseCodes,
    runTimeSeconds: numberField(stats, 'Run time \\(s\\)'),
    queriesPerSecond: numberField(stats, 'Queries per second'),
    averageLatencySeconds: avg ? Number(avg[1]) : null,
  };
}

/**
 * bash's `times` prints two lines, the shell's then its children's user and system time ("0m1.234s 0m0.056s"):
 * the children's CPU seconds (run as the last command, that is the measured program's).
 */
export function parseBashTimes(text: string): number {
  const lines = text.split('\n').filter((l) => /^\s*\d+m[\d.]+s\s+\d+m[\d.]+s\s*$/.test(l));
  const children = lines[lines.length - 1];
  if (lines.length < 2 || children === undefined) throw new Error(`no bash "times" output in: ${text.trim().slice(-200)}`);
  return children
    .trim()
    .split(/\s+/)
    .map((t) => {
      const m = /^(\d+)m([\d.]+)s$/.exec(t);
      return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
    })
    .reduce((s, x) => s + x, 0);
}
