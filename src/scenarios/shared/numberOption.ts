import { UserError } from '../../errors.js';

/** A whole-number option within [lo, hi], or a one-line UserError naming the flag. */
export function parseWholeNumber(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new UserError(`--${name} must be a whole number from ${lo} to ${hi}, got ${String(v)}`);
  }
  return v;
}

/** `--detect-rate`: a rate per 100 000 above 0 and at most 100 000 (`unit` names what is counted). */
export function parseDetectRate(v: unknown, unit: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 100_000) {
    throw new UserError(`--detect-rate must be a number above 0 and at most 100000 (per 100 000 ${unit}), got ${String(v)}`);
  }
  return v;
}
