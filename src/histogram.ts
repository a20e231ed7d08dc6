import { inflateSync } from 'node:zlib';
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

/**
 * A histogram's encoding comes from agents and from result files anyone may hand to `report` or `diff`, so it is
 * checked before the library decodes it: deflate expands ~1000:1 (27 KB of base64 became 20 MB), and the header's
 * digits and range size the counts array. Ours (1 µs to 10 min, 3 digits) inflate to well under 1 MiB.
 */
const MAX_ENCODED_CHARS = 1024 * 1024;
const MAX_INFLATED_BYTES = 1024 * 1024;
const V2_COMPRESSED_COOKIE_BASE = 0x1c849304;

export class HistogramDecodeError extends Error {
  constructor(reason: string) {
    super(`histogram not decoded: ${reason}`);
    this.name = 'HistogramDecodeError';
  }
}

/** Throws HistogramDecodeError unless `encoded` is a histogram decodeHistogram may decode (bounded work and memory). */
export function checkEncoded(encoded: string): void {
  if (typeof encoded !== 'string') throw new HistogramDecodeError('not a string');
  if (encoded.length > MAX_ENCODED_CHARS) throw new HistogramDecodeError(`${encoded.length} characters (at most ${MAX_ENCODED_CHARS})`);
  const data = Buffer.from(encoded.trim(), 'base64');
  if (data.length < 8 || (data.readInt32BE(0) & ~0xf0) !== V2_COMPRESSED_COOKIE_BASE) throw new HistogramDecodeError('not a compressed V2 HdrHistogram');
  let inner: Buffer;
  try {
    inner = inflateSync(data.subarray(8, 8 + Math.max(0, data.readInt32BE(4))), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (err) {
    throw new HistogramDecodeError((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? `inflates past ${MAX_INFLATED_BYTES} bytes` : (err as Error).message);
  }
  // V2 header: cookie, payload length, normalizing offset, significant digits, lowest (int64), highest (int64).
  if (inner.length < 40) throw new HistogramDecodeError('header cut short');
  const digits = inner.readInt32BE(12);
  const lowest = inner.readBigInt64BE(16);
  const highest = inner.readBigInt64BE(24);
  if (digits < 1 || digits > 3 || lowest < 1n || highest < lowest * 2n || highest > 2n ** 50n) {
    throw new HistogramDecodeError(`header out of range (digits ${digits}, lowest ${lowest}, highest ${highest})`);
  }
}

export function decodeHistogram(encoded: string): Histogram {
  checkEncoded(encoded);
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
