import { UserError } from '../../errors.js';

export type DurationUnit = 'ms' | 's';

const MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as people write it: `30s`, `500ms`, `2m`, `1h`, `1.5s`, or a bare number, which keeps the option's
 * own unit. Returns the value in `unit`, or null when the text is not a duration. Pure.
 */
export function parseDuration(v: string | number, unit: DurationUnit): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return null;
  const n = Number(m[1]);
  if (m[2] === undefined) return n;
  // Rounded to a microsecond so that `0.3s` in ms is 300, not 300.00000000000006.
  return Math.round((n * (MS[m[2]] ?? 1) * 1000) / (MS[unit] ?? 1)) / 1000;
}

function show(n: number, unit: DurationUnit): string {
  return unit === 'ms' && n >= 1000 && n % 1000 === 0 ? `${n / 1000} s` : `${n} ${unit}`;
}

/**
 * A duration option within [lo, hi] in `unit` (whole units when `whole`), or a one-line UserError that quotes
 * what was typed (`--interval "abc"`, never NaN).
 */
export function durationOption(name: string, v: unknown, unit: DurationUnit, lo: number, hi: number, whole = true): number {
  const n = typeof v === 'string' || typeof v === 'number' ? parseDuration(v, unit) : null;
  if (n === null || n < lo || n > hi || (whole && !Number.isInteger(n))) {
    const range = `${whole ? 'whole ' : ''}${unit === 's' ? 'seconds' : 'milliseconds'} from ${show(lo, unit)} to ${show(hi, unit)}`;
    throw new UserError(`--${name} ${JSON.stringify(String(v))}: give a duration such as 30s, 500ms or 2m (a bare number is ${unit === 's' ? 'seconds' : 'milliseconds'}), ${range}`);
  }
  return n;
}
