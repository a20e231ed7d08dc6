import * as hdr from 'hdr-histogram-js';

/**
 * Latency histograms: microseconds, 3 significant digits, up to 10 minutes.
 * They cross thread and process boundaries as compressed base64 (as autocannon does).
 */
export type Histogram = hdr.Histogram;

const HIGHEST_US = 600_000_000;

export function createHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

export function recordMicros(h: Histogram, us: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(us))));
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false);
}

/** Merge encoded histograms into one new histogram. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const total = createHistogram();
  for (const e of encoded) {
    const h = decodeHistogram(e);
    total.add(h);
    h.destroy();
  }
  return total;
}

function asJs(h: Histogram): hdr.JsHistogram {
  if (!(h instanceof hdr.JsHistogram)) throw new Error('histogram is not a JS histogram');
  return h;
}

/**
 * Number of recorded values v with loUs <= v <= hiUs, at the histogram's resolution
 * (values are compared by their equivalence range's lowest value).
 */
export function countBetween(h: Histogram, loUs: number, hiUs: number): number {
  if (h.totalCount === 0 || hiUs < loUs) return 0;
  const js = asJs(h);
  const max = h.maxValue;
  const from = js.countsArrayIndex(Math.max(1, Math.round(loUs)));
  const to = js.countsArrayIndex(Math.min(Math.round(hiUs), max));
  let count = 0;
  for (let i = from; i <= to; i++) {
    count += js.getCountAtIndex(i);
  }
  return count;
}

/** Percentile in milliseconds (0 when the histogram is empty). */
export function percentileMs(h: Histogram, p: number): number {
  if (h.totalCount === 0) return 0;
  return Math.round(h.getValueAtPercentile(p)) / 1000;
}

/** Each distinct recorded value (µs, the middle of its equivalence range) with its count, ascending. */
export function recordedValues(h: Histogram): { valueUs: number; count: number }[] {
  if (h.totalCount === 0) return [];
  const js = asJs(h);
  const last = js.countsArrayIndex(h.maxValue);
  const out: { valueUs: number; count: number }[] = [];
  for (let i = 0; i <= last; i++) {
    const count = js.getCountAtIndex(i);
    if (count > 0) out.push({ valueUs: js.medianEquivalentValue(js.valueFromIndex(i)), count });
  }
  return out;
}
