import { UserError } from '../../errors.js';

/** A whole-number option within [lo, hi], or a one-line UserError naming the flag. */
export function parseWholeNumber(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new UserError(`--${name} must be a whole number from ${lo} to ${hi}, got ${String(v)}`);
  }
  return v;
}
