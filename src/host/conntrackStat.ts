import { readFile } from 'node:fs/promises';
import { runInNetns } from './exec.js';

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

/**
 * The deltas a result keeps: every one that moved, plus the named columns when the kernel has them (0 when they
 * did not move). A column this kernel lacks stays absent, never a made-up 0.
 */
export function conntrackCounters(before: ConntrackStat, after: ConntrackStat, keep: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(conntrackDelta(before, after))) if (v !== 0 || keep.includes(k)) out[k] = v;
  return out;
}

/** The stats of a named network namespace (read from inside it: the file is per namespace). */
export async function readNetnsConntrackStat(netns: string): Promise<ConntrackStat> {
  return parseConntrackStat((await runInNetns(netns, 'cat', [CONNTRACK_STAT_PATH])).stdout);
}
