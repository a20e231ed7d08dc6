import { access, readFile } from 'node:fs/promises';
import { UserError, errorMessage } from '../errors.js';
import type { ConntrackStatsSource } from '../types.js';
import { HOST_NETNS, netnsLabel, runInNamespace, type NetnsRef } from './exec.js';

/**
 * /proc/net/stat/nf_conntrack: a header naming the columns, then one row of hex numbers per CPU.
 * Columns differ between kernels, so everything is keyed by the header's names.
 */
export interface ConntrackStat {
  columns: string[];
  /** One entry per CPU row: column name -> value. */
  rows: Record<string, number>[];
}

/** Columns that are gauges (the same global value on every row), not per-CPU event counts. */
const GAUGE_COLUMNS = new Set(['entries']);

export const CONNTRACK_STAT_PATH = '/proc/net/stat/nf_conntrack';

export function parseConntrackStat(text: string): ConntrackStat {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const header = lines[0];
  if (!header) throw new Error('nf_conntrack stat: empty input');
  const columns = header.split(/\s+/);
  if (columns.some((c) => !/^[a-z_]+$/.test(c))) throw new Error(`nf_conntrack stat: unexpected header "${header}"`);
  const rows = lines.slice(1).map((line, i) => {
    const cells = line.split(/\s+/);
    if (cells.length !== columns.length) {
      throw new Error(`nf_conntrack stat: row ${i + 1} has ${cells.length} cells, header has ${columns.length}`);
    }
    const row: Record<string, number> = {};
    columns.forEach((name, j) => {
      const cell = cells[j] ?? '';
      if (!/^[0-9a-fA-F]+$/.test(cell)) throw new Error(`nf_conntrack stat: "${cell}" is not hex`);
      row[name] = parseInt(cell, 16);
    });
    return row;
  });
  return { columns, rows };
}

const U32 = 2 ** 32;

/**
 * Per-column difference after - before, summed over CPUs (each per-CPU counter is a u32 that may wrap).
 * Gauge columns (entries) report the change of the gauge. Columns missing on one side are skipped.
 */
export function conntrackDelta(before: ConntrackStat, after: ConntrackStat): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of after.columns) {
    if (!before.columns.includes(name)) continue;
    if (GAUGE_COLUMNS.has(name)) {
      out[name] = (after.rows[0]?.[name] ?? 0) - (before.rows[0]?.[name] ?? 0);
      continue;
    }
    let sum = 0;
    const n = Math.min(before.rows.length, after.rows.length);
    for (let i = 0; i < n; i++) {
      const d = (after.rows[i]?.[name] ?? 0) - (before.rows[i]?.[name] ?? 0);
      sum += d < 0 ? d + U32 : d;
    }
    out[name] = sum;
  }
  return out;
}

export async function readConntrackStat(path = CONNTRACK_STAT_PATH): Promise<ConntrackStat> {
  return parseConntrackStat(await readFile(path, 'utf8'));
}

export type { ConntrackStatsSource };
export type ConntrackStatsChoice = ConntrackStatsSource | 'auto';

/** Forces a source: procfs, netlink or auto (procfs when the kernel has it, else netlink). */
export const CONNTRACK_STATS_ENV = 'REPRO_CONNTRACK_STATS';

export function conntrackStatsChoice(env: NodeJS.ProcessEnv = process.env): ConntrackStatsChoice {
  const v = env[CONNTRACK_STATS_ENV];
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'procfs' || v === 'netlink') return v;
  throw new UserError(`${CONNTRACK_STATS_ENV}=${v}: expected procfs, netlink or auto`);
}

/**
 * ctnetlink's names for the per-CPU stats (conntrack-tools src/conntrack.c, nfct_stats_cb's attr2name) that the procfs
 * header (net/netfilter/nf_conntrack_standalone.c, ct_cpu_seq_show) prints under another name. The other names
 * (found, invalid, insert, insert_failed, drop, early_drop, search_restart; searched ... delete_list on old kernels)
 * are the same in both.
 */
export const NETLINK_TO_PROCFS_NAMES: Readonly<Record<string, string>> = {
  clash_resolve: 'clashres',
  chaintoolong: 'chainlength',
  error: 'icmp_error',
};

/**
 * `conntrack -S`: one line per CPU, `cpu=N` then `name=decimal` pairs (names as ctnetlink sends them, unknownN for
 * attributes newer than the tool). Returned under the procfs names, rows ordered by CPU, without `entries`
 * (ctnetlink sends the count in another message: see withEntries).
 */
export function parseConntrackS(text: string): ConntrackStat {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error('conntrack -S: empty output');
  const columns: string[] = [];
  const byCpu = new Map<number, Record<string, number>>();
  for (const line of lines) {
    const [first, ...pairs] = line.split(/\s+/);
    const cpu = /^cpu=(\d+)$/.exec(first ?? '')?.[1];
    if (cpu === undefined) throw new Error(`conntrack -S: unexpected line "${line}"`);
    if (byCpu.has(Number(cpu))) throw new Error(`conntrack -S: cpu ${cpu} listed twice`);
    const row: Record<string, number> = {};
    for (const pair of pairs) {
      const m = /^([a-z][a-z0-9_]*)=(\d+)$/.exec(pair);
      if (!m) throw new Error(`conntrack -S: "${pair}" is not name=number`);
      const name = NETLINK_TO_PROCFS_NAMES[m[1] as string] ?? (m[1] as string);
      row[name] = Number(m[2]);
      if (!columns.includes(name)) columns.push(name);
    }
    byCpu.set(Number(cpu), row);
  }
  const rows = [...byCpu.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
  for (const [i, row] of rows.entries()) {
    const missing = columns.filter((c) => !(c in row));
    if (missing.length > 0) throw new Error(`conntrack -S: row ${i + 1} lacks ${missing.join(', ')}`);
  }
  return { columns, rows };
}

/** Put the table's entry count in front, on every row, as procfs does. */
export function withEntries(stat: ConntrackStat, entries: number): ConntrackStat {
  return {
    columns: ['entries', ...stat.columns.filter((c) => c !== 'entries')],
    rows: stat.rows.map((r) => ({ entries, ...r })),
  };
}

export interface ConntrackStatReading {
  stat: ConntrackStat;
  source: ConntrackStatsSource;
  /** Set when auto fell back to netlink: why procfs could not be read. */
  procfsError?: string;
}

/** Neither source (or not the forced one) could be read; each reason is kept for doctor and audit. */
export class ConntrackStatsError extends Error {
  constructor(
    readonly netns: string,
    readonly reasons: Partial<Record<ConntrackStatsSource, string>>,
  ) {
    super(`conntrack stats of ${netns}: ${Object.entries(reasons).map(([s, r]) => `${s}: ${r}`).join('; ')}`);
    this.name = 'ConntrackStatsError';
  }
}

const EXEC_TIMEOUT_MS = 5000;

async function readProcfs(ns: NetnsRef): Promise<ConntrackStat> {
  if (ns.kind === 'host') return readConntrackStat();
  if (ns.kind === 'pid') return readConntrackStat(`/proc/${ns.pid}/net/stat/nf_conntrack`);
  const r = await runInNamespace(ns, 'cat', [CONNTRACK_STAT_PATH], { timeoutMs: EXEC_TIMEOUT_MS });
  return parseConntrackStat(r.stdout);
}

async function readNetlink(ns: NetnsRef): Promise<ConntrackStat> {
  const opts = { timeoutMs: EXEC_TIMEOUT_MS };
  const [stats, count] = await Promise.all([runInNamespace(ns, 'conntrack', ['-S'], opts), runInNamespace(ns, 'conntrack', ['-C'], opts)]);
  const entries = count.stdout.trim();
  if (!/^\d+$/.test(entries)) throw new Error(`conntrack -C: "${entries}" is not a count`);
  return withEntries(parseConntrackS(stats.stdout), Number(entries));
}

const PROCFS_ABSENT = `${CONNTRACK_STAT_PATH} absent (kernel built without CONFIG_NF_CONNTRACK_PROCFS)`;

/** The command's or the file's own message; a missing stat file said plainly. */
function reasonOf(err: unknown): string {
  const msg = errorMessage(err);
  const missingFile = (err as NodeJS.ErrnoException).code === 'ENOENT' || (msg.includes('No such file') && msg.includes('nf_conntrack'));
  return missingFile ? PROCFS_ABSENT : msg;
}

/** Why a namespace cannot be entered at all (named netns not there, process gone), or null. */
export async function netnsMissing(ns: NetnsRef): Promise<string | null> {
  if (ns.kind === 'host') return null;
  const path = ns.kind === 'netns' ? `/run/netns/${ns.name}` : `/proc/${ns.pid}/ns/net`;
  const code = await access(path).then(() => null, (err: NodeJS.ErrnoException) => err.code ?? 'error');
  if (code === null) return null;
  if (code !== 'ENOENT') return `cannot open ${path}: ${code}`;
  return ns.kind === 'netns' ? `no network namespace named ${ns.name} (ip netns list)` : `no process ${ns.pid}`;
}

/** Read one source, no fallback. Without nf_conntrack loaded there are no stats, and asking ctnetlink would load it. */
export async function readConntrackStatVia(ns: NetnsRef, source: ConntrackStatsSource): Promise<ConntrackStat> {
  const fail = (reason: string): ConntrackStatsError => new ConntrackStatsError(netnsLabel(ns), { [source]: reason });
  const missing = await netnsMissing(ns);
  if (missing) throw fail(missing);
  const loaded = await access('/sys/module/nf_conntrack').then(() => true, () => false);
  if (!loaded) throw fail('nf_conntrack is not loaded (no NAT or stateful rule uses it yet)');
  try {
    return await (source === 'procfs' ? readProcfs(ns) : readNetlink(ns));
  } catch (err) {
    throw fail(reasonOf(err));
  }
}

/**
 * The choice between the two sources, apart from the reading itself: the forced source alone, or procfs and then
 * netlink, keeping why procfs failed. `read` throws ConntrackStatsError (or anything) when a source fails.
 */
export async function pickConntrackStat(
  label: string,
  choice: ConntrackStatsChoice,
  read: (source: ConntrackStatsSource) => Promise<ConntrackStat>,
): Promise<ConntrackStatReading> {
  const reasonFor = (source: ConntrackStatsSource, err: unknown): string =>
    err instanceof ConntrackStatsError ? (err.reasons[source] ?? err.message) : errorMessage(err);
  if (choice !== 'auto') {
    try {
      return { stat: await read(choice), source: choice };
    } catch (err) {
      throw new ConntrackStatsError(label, { [choice]: reasonFor(choice, err) });
    }
  }
  let procfsError: string;
  try {
    return { stat: await read('procfs'), source: 'procfs' };
  } catch (err) {
    procfsError = reasonFor('procfs', err);
  }
  try {
    return { stat: await read('netlink'), source: 'netlink', procfsError };
  } catch (err) {
    throw new ConntrackStatsError(label, { procfs: procfsError, netlink: reasonFor('netlink', err) });
  }
}

/**
 * The conntrack stats of one network namespace and the source they came from: procfs when the kernel has it, else
 * `conntrack -S` inside the namespace, or the source that `choice` (REPRO_CONNTRACK_STATS by default) forces.
 * Both sources give the procfs column names, so deltas of either compare directly.
 */
export function readConntrackStatIn(ns: NetnsRef = HOST_NETNS, choice: ConntrackStatsChoice = conntrackStatsChoice()): Promise<ConntrackStatReading> {
  return pickConntrackStat(netnsLabel(ns), choice, (source) => readConntrackStatVia(ns, source));
}

/**
 * The deltas a result keeps: every one that moved, plus the named columns when the kernel has them (0 when they
 * did not move). A column this kernel lacks stays absent, never a made-up 0.
 */
export function conntrackCounters(before: ConntrackStat, after: ConntrackStat, keep: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(conntrackDelta(before, after))) if (v !== 0 || keep.includes(k)) out[k] = v;
  return out;
}

/** The stats of a named network namespace, from procfs or netlink (REPRO_CONNTRACK_STATS decides, auto by default). */
export async function readNetnsConntrackStat(netns: string): Promise<ConntrackStat> {
  return (await readConntrackStatIn({ kind: 'netns', name: netns })).stat;
}
