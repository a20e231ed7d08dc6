import { countBetween, type Histogram } from '../histogram.js';
import type { SignatureBand } from '../types.js';

/**
 * Linux retransmits an unanswered SYN after 1 s and doubles the interval each time,
 * so a connect that lost n SYNs completes at about (2^n - 1) s: 1 s, 3 s, 7 s, 15 s, 31 s, 63 s.
 */
export const BAND_EARLY_MS = 20;
export const BAND_LATE_MS = 300;
export const BAND_LATE_FRACTION = 0.05;
/** Attempts at least this slow that fall in no band are counted as slowOutsideBands. */
export const SLOW_THRESHOLD_MS = 200;

export const TOLERANCE_DESCRIPTION =
  `band n (n lost SYNs) covers [T-${BAND_EARLY_MS} ms, T+${BAND_LATE_MS} ms+${BAND_LATE_FRACTION * 100}% of T] ` +
  `with T = (2^n - 1) s; attempts >= ${SLOW_THRESHOLD_MS} ms outside every band are "slow outside bands"`;

export interface BandDef {
  name: string;
  lostSyns: number;
  loMs: number;
  hiMs: number;
}

export function retransmitCompletionMs(lostSyns: number): number {
  return (2 ** lostSyns - 1) * 1000;
}

/** Bands for 1..n lost SYNs whose completion time lies below maxMs (the connect timeout). */
export function signatureBands(maxMs: number): BandDef[] {
  const bands: BandDef[] = [];
  for (let n = 1; n <= 12; n++) {
    const t = retransmitCompletionMs(n);
    if (t >= maxMs) break;
    bands.push({
      name: `${t / 1000}s`,
      lostSyns: n,
      loMs: t - BAND_EARLY_MS,
      hiMs: t + BAND_LATE_MS + BAND_LATE_FRACTION * t,
    });
  }
  return bands;
}

/** SYNs an attempt must have lost before a connect timeout of timeoutMs ended it. */
export function lostSynsBeforeTimeout(timeoutMs: number): number {
  let n = 0;
  while (retransmitCompletionMs(n + 1) < timeoutMs) n++;
  return n + 1;
}

export interface SignatureCounts {
  bands: SignatureBand[];
  slowOutsideBands: number;
}

export function countSignatures(h: Histogram, maxMs: number): SignatureCounts {
  const bands = signatureBands(maxMs).map((b) => ({
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
