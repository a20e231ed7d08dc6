import { describe, expect, it } from 'vitest';
import {
  countBetween,
  createHistogram,
  decodeHistogram,
  encodeHistogram,
  mergeEncoded,
  percentileMs,
  recordMicros,
  type Histogram,
} from '../../src/histogram.js';

function histogramOf(valuesUs: readonly number[]): Histogram {
  const h = createHistogram();
  for (const v of valuesUs) recordMicros(h, v);
  return h;
}

const oneToThousand = Array.from({ length: 1000 }, (_, i) => i + 1);

describe('encode / decode', () => {
  it('round-trips counts and values through compressed base64', () => {
    const h = histogramOf([...oneToThousand, 1_001_000, 3_004_000]);
    const enc = encodeHistogram(h);
    expect(typeof enc).toBe('string');
    expect(enc).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const d = decodeHistogram(enc);
    expect(d.totalCount).toBe(1002);
    expect(countBetween(d, 1, 1000)).toBe(1000);
    expect(countBetween(d, 900_000, 1_100_000)).toBe(1);
    expect(countBetween(d, 2_900_000, 3_100_000)).toBe(1);
    // Values up to 2047 us are kept exactly (3 significant digits, unit resolution below 2048).
    expect(percentileMs(d, 50)).toBe(0.501);
  });

  it('round-trips an empty histogram', () => {
    const d = decodeHistogram(encodeHistogram(createHistogram()));
    expect(d.totalCount).toBe(0);
    expect(percentileMs(d, 99)).toBe(0);
  });
});

describe('mergeEncoded', () => {
  it('adds the counts of every encoded histogram into a new one', () => {
    const a = encodeHistogram(histogramOf([100, 100, 100]));
    const b = encodeHistogram(histogramOf([2_000_000, 2_000_000]));
    const c = encodeHistogram(createHistogram());
    const m = mergeEncoded([a, b, c]);
    expect(m.totalCount).toBe(5);
    expect(countBetween(m, 100, 100)).toBe(3);
    expect(countBetween(m, 1_900_000, 2_100_000)).toBe(2);
    // 60 % of 5 = 3 values reach 100 us; 80 % needs the 2 s values.
    expect(percentileMs(m, 60)).toBe(0.1);
    // 2_000_000 us is stored in [1_999_872, 2_000_895] (1024 us resolution between 1.05 s and 2.1 s).
    expect(percentileMs(m, 80)).toBe(2000.895);
  });

  it('merges histograms that saw the same values', () => {
    const e = encodeHistogram(histogramOf(oneToThousand));
    const m = mergeEncoded([e, e]);
    expect(m.totalCount).toBe(2000);
    expect(countBetween(m, 1, 10)).toBe(20);
    expect(percentileMs(m, 50)).toBe(0.5);
  });

  it('gives an empty histogram for no input', () => {
    const m = mergeEncoded([]);
    expect(m.totalCount).toBe(0);
    expect(countBetween(m, 0, Number.MAX_SAFE_INTEGER)).toBe(0);
  });
});

describe('recordMicros', () => {
  it('rounds to whole microseconds and clamps to [1 us, 600 s]', () => {
    const h = histogramOf([0, -5, 1.6, 1e12]);
    expect(h.totalCount).toBe(4);
    expect(countBetween(h, 1, 1)).toBe(2);
    expect(countBetween(h, 2, 2)).toBe(1);
    expect(countBetween(h, 599_000_000, 600_000_000)).toBe(1);
  });
});

describe('countBetween', () => {
  const h = histogramOf([100, 200, 300]);

  it('includes both edges', () => {
    expect(countBetween(h, 100, 300)).toBe(3);
    expect(countBetween(h, 100, 200)).toBe(2);
    expect(countBetween(h, 200, 200)).toBe(1);
  });

  it('excludes values just outside the edges', () => {
    expect(countBetween(h, 101, 299)).toBe(1);
    expect(countBetween(h, 301, 10_000)).toBe(0);
    expect(countBetween(h, 1, 99)).toBe(0);
  });

  it('treats lo below 1 as 1 and hi above the maximum as the maximum', () => {
    expect(countBetween(h, 0, 100)).toBe(1);
    expect(countBetween(h, -10, Number.MAX_SAFE_INTEGER)).toBe(3);
  });

  it('is 0 when hi < lo or the histogram is empty', () => {
    expect(countBetween(h, 300, 100)).toBe(0);
    expect(countBetween(createHistogram(), 1, 1000)).toBe(0);
  });

  it('compares values at the histogram resolution (512 us around 1 s)', () => {
    // 1_000_100 us falls in [999_936, 1_000_447]; lo = 1_000_400 lies in the same range, so it counts.
    const g = histogramOf([1_000_100]);
    expect(countBetween(g, 1_000_400, 2_000_000)).toBe(1);
    // lo = 1_000_448 starts the next range.
    expect(countBetween(g, 1_000_448, 2_000_000)).toBe(0);
  });
});

describe('percentileMs', () => {
  const h = histogramOf(oneToThousand);

  it('reads percentiles in milliseconds', () => {
    expect(percentileMs(h, 50)).toBe(0.5);
    expect(percentileMs(h, 90)).toBe(0.9);
    expect(percentileMs(h, 99)).toBe(0.99);
    expect(percentileMs(h, 99.9)).toBe(0.999);
    expect(percentileMs(h, 100)).toBe(1);
  });

  it('reports the upper end of the equivalence range for large values', () => {
    // 1_001_000 us is stored in [1_000_960, 1_001_471].
    expect(percentileMs(histogramOf([1_001_000]), 50)).toBe(1001.471);
  });

  it('is 0 for an empty histogram', () => {
    expect(percentileMs(createHistogram(), 50)).toBe(0);
  });
});
