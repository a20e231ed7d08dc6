import { countBetween, type Histogram } from '../histogram.js';
import { assumedExponentialSchedule, lostSynsByTimeout } from './synSchedule.js';
import type { SignatureBand, SynSchedule } from '../types.js';

/**
 * A connect that lost its first n SYNs completes when the kernel sends the n-th retransmit: the schedule's
 * completion time (src/analysis/synSchedule.ts). Before 6.5 that is (2^n - 1) s: 1, 3, 7, 15 s; since 6.5 with the
 * default 4 linear timeouts it is 1, 2, 3, 4, 5, 7, 11 s. A band is named by its completion time ("2s").
 */
export const BAND_EARLY_MS = 20;
export const BAND_LATE_MS = 300;
export const BAND_LATE_FRACTION = 0.05;
/** Attempts at least this slow that fall in no band are counted as slowOutsideBands. */
export const SLOW_THRESHOLD_MS = 200;

export const TOLERANCE_DESCRIPTION =
  `band n (n lost SYNs) covers [T-${BAND_EARLY_MS} ms, T+${BAND_LATE_MS} ms+${BAND_LATE_FRACTION * 100}% of T] ` +
  `with T the completion time of the n-th SYN retransmit on the kernel's schedule (modes[].synSchedule); ` +
  `attempts >= ${SLOW_THRESHOLD_MS} ms outside every band are "slow outside bands"`;

export interface BandDef {
  name: string;
  lostSyns: number;
  loMs: number;
  hiMs: number;
}

/** Completion time of a connect that lost its first n SYNs (0: no loss); beyond the schedule: never (Infinity). */
export function retransmitCompletionMs(lostSyns: number, schedule: SynSchedule = assumedExponentialSchedule()): number {
  if (lostSyns <= 0) return 0;
  return schedule.completionMs[lostSyns - 1] ?? Infinity;
}

/** The band of a completion time T: [T - 20 ms, T + 300 ms + 5 % of T]. */
export function bandAround(name: string, lostSyns: number, t: number): BandDef {
  return { name, lostSyns, loMs: t - BAND_EARLY_MS, hiMs: t + BAND_LATE_MS + BAND_LATE_FRACTION * t };
}

/** Bands for 1..n lost SYNs whose completion time lies below maxMs (the connect timeout). */
export function signatureBands(maxMs: number, schedule: SynSchedule = assumedExponentialSchedule()): BandDef[] {
  return schedule.completionMs
    .map((t, i) => ({ t, n: i + 1 }))
    .filter(({ t }) => t < maxMs)
    .map(({ t, n }) => bandAround(`${t / 1000}s`, n, t));
}

/** SYNs an attempt must have lost before a connect timeout of timeoutMs ended it. */
export function lostSynsBeforeTimeout(timeoutMs: number, schedule: SynSchedule = assumedExponentialSchedule()): number {
  return lostSynsByTimeout(schedule, timeoutMs);
}

export interface SignatureCounts {
  bands: SignatureBand[];
  slowOutsideBands: number;
}

export function countSignatures(h: Histogram, maxMs: number, schedule: SynSchedule = assumedExponentialSchedule()): SignatureCounts {
  const bands = signatureBands(maxMs, schedule).map((b) => ({
    ...b,
    count: countBetween(h, b.loMs * 1000, b.hiMs * 1000),
  }));
  const slow = countBetween(h, SLOW_THRESHOLD_MS * 1000, Number.MAX_SAFE_INTEGER);
  const inBands = bands.reduce((s, b) => s + b.count, 0);
  return { bands, slowOutsideBands: Math.max(0, slow - inBands) };
}

export function bandsToRecord(bands: readonly SignatureBand[]): Record<string, number> {
  return Object.fromEntries(bands.map((b) => [b.name, b.count]));
}
