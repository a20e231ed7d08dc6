import { runInNetns } from './exec.js';

/**
 * /proc/net/snmp and /proc/net/netstat: pairs of lines "Prefix: names..." / "Prefix: values...".
 * Keys are nstat's: prefix + name, e.g. TcpExtListenOverflows, UdpRcvbufErrors, TcpActiveOpens.
 */
export type NetCounters = Record<string, number>;

export function parseNetCounters(text: string): NetCounters {
  const out: NetCounters = {};
  const lines = text.split('\n').filter((l) => l.includes(':'));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const head = lines[i] ?? '';
    const vals = lines[i + 1] ?? '';
    const hp = head.indexOf(':');
    const vp = vals.indexOf(':');
    const prefix = head.slice(0, hp);
    if (prefix !== vals.slice(0, vp)) throw new Error(`net counters: "${prefix}" header not followed by its values`);
    const names = head.slice(hp + 1).trim().split(/\s+/);
    const values = vals.slice(vp + 1).trim().split(/\s+/);
    if (names.length !== values.length) throw new Error(`net counters: ${prefix} has ${names.length} names, ${values.length} values`);
    names.forEach((name, j) => {
      const v = Number(values[j]);
      if (!Number.isFinite(v)) throw new Error(`net counters: ${prefix}${name} is not a number`);
      out[prefix + name] = v;
    });
  }
  return out;
}

/** Gauges and constants in snmp that must not be reported as deltas. */
const NOT_COUNTERS = new Set([
  'IpForwarding', 'IpDefaultTTL', 'TcpRtoAlgorithm', 'TcpRtoMin', 'TcpRtoMax', 'TcpMaxConn', 'TcpCurrEstab',
]);

/** after - before for every counter present on both sides; zero deltas are dropped unless listed in keep. */
export function netCountersDelta(before: NetCounters, after: NetCounters, keep: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    if (NOT_COUNTERS.has(k)) continue;
    const b = before[k];
    if (b === undefined) continue;
    const d = v - b;
    if (d !== 0 || keep.includes(k)) out[k] = d;
  }
  for (const k of keep) if (!(k in out)) out[k] = 0;
  return out;
}

export function sumCounters(parts: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Read snmp + netstat counters of a network namespace (by name), as nstat would. */
export async function readNetnsCounters(ns: string): Promise<NetCounters> {
  const { stdout } = await runInNetns(ns, 'cat', ['/proc/net/snmp', '/proc/net/netstat']);
  return parseNetCounters(stdout);
}
