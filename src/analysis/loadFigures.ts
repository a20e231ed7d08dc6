import { encodeHistogram, percentileMs, type Histogram } from '../histogram.js';
import { bandsToRecord, type SignatureCounts } from './signatures.js';
import { detectableRatePer100k } from './verdict.js';
import type { LatencyMs, ModeResult } from '../types.js';

/** The result's latency block from a merged latency histogram (µs in, ms out; zeros when empty). */
export function latencySummary(h: Histogram): LatencyMs {
  return {
    p50: percentileMs(h, 50),
    p90: percentileMs(h, 90),
    p99: percentileMs(h, 99),
    p999: percentileMs(h, 99.9),
    max: h.totalCount === 0 ? 0 : Math.round(h.maxValue) / 1000,
  };
}

export type LoadFigures = Pick<
  ModeResult,
  'durationMs' | 'connectsPerSecond' | 'latencyMs' | 'signatures' | 'slowOutsideBands' | 'detectableRatePer100k' | 'histogram'
>;

/** The ModeResult fields every scenario derives the same way from its load phase: rate, latency, bands, histogram. */
export function loadFigures(attempts: number, durationMs: number, h: Histogram, sig: SignatureCounts): LoadFigures {
  return {
    durationMs: Math.round(durationMs),
    connectsPerSecond: durationMs > 0 ? Math.round((attempts / durationMs) * 1000) : 0,
    latencyMs: latencySummary(h),
    signatures: bandsToRecord(sig.bands),
    slowOutsideBands: sig.slowOutsideBands,
    detectableRatePer100k: attempts > 0 ? Math.round(detectableRatePer100k(attempts) * 100) / 100 : null,
    histogram: encodeHistogram(h),
  };
}
