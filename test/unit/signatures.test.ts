import { describe, expect, it } from 'vitest';
import {
  bandsToRecord,
  countSignatures,
  lostSynsBeforeTimeout,
  retransmitCompletionMs,
  signatureBands,
} from '../../src/analysis/signatures.js';
import { createHistogram, recordMicros, type Histogram } from '../../src/histogram.js';

function histogramMs(valuesMs: readonly number[]): Histogram {
  const h = createHistogram();
  for (const v of valuesMs) recordMicros(h, v * 1000);
  return h;
}

describe('retransmitCompletionMs', () => {
  it('is (2^n - 1) s on the pre-6.5 schedule assumed when none is given', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => retransmitCompletionMs(n))).toEqual([0, 1000, 3000, 7000, 15000, 31000, 63000]);
    // The kernel gives up at 127 s: there is no seventh retransmit.
    expect(retransmitCompletionMs(7)).toBe(Infinity);
  });
});

describe('signatureBands', () => {
  it('gives 1 s, 3 s and 7 s bands for an 8000 ms timeout', () => {
    // [T - 20 ms, T + 300 ms + 5 % of T]
    expect(signatureBands(8000)).toEqual([
      { name: '1s', lostSyns: 1, loMs: 980, hiMs: 1350 },
      { name: '3s', lostSyns: 2, loMs: 2980, hiMs: 3450 },
      { name: '7s', lostSyns: 3, loMs: 6980, hiMs: 7650 },
    ]);
  });

  it('leaves out a band whose completion time equals the timeout', () => {
    expect(signatureBands(7000).map((b) => b.name)).toEqual(['1s', '3s']);
    expect(signatureBands(7001).map((b) => b.name)).toEqual(['1s', '3s', '7s']);
    expect(signatureBands(1000)).toEqual([]);
  });

  it('goes up to 63 s for a long timeout', () => {
    const bands = signatureBands(64_000);
    expect(bands.map((b) => b.name)).toEqual(['1s', '3s', '7s', '15s', '31s', '63s']);
    expect(bands[5]).toEqual({ name: '63s', lostSyns: 6, loMs: 62_980, hiMs: 63_000 + 300 + 3150 });
  });
});

describe('lostSynsBeforeTimeout', () => {
  it('counts the SYNs sent before the timeout', () => {
    // SYNs at 0, 1, 3, 7 s are all unanswered when an 8 s timeout fires.
    expect(lostSynsBeforeTimeout(8000)).toBe(4);
    expect(lostSynsBeforeTimeout(2000)).toBe(2);
    expect(lostSynsBeforeTimeout(500)).toBe(1);
    expect(lostSynsBeforeTimeout(1000)).toBe(1);
    expect(lostSynsBeforeTimeout(16_000)).toBe(5);
  });
});

describe('countSignatures', () => {
  it('puts 1001, 3004 and 7010 ms into their bands and 450 ms outside every band', () => {
    const h = histogramMs([1001, 3004, 7010, 450, 5]);
    const s = countSignatures(h, 8000);
    expect(bandsToRecord(s.bands)).toEqual({ '1s': 1, '3s': 1, '7s': 1 });
    expect(s.slowOutsideBands).toBe(1);
    expect(s.bands.map((b) => [b.loMs, b.hiMs])).toEqual([[980, 1350], [2980, 3450], [6980, 7650]]);
  });

  it('counts repeated stalls', () => {
    const s = countSignatures(histogramMs([1000, 1000, 1005, 1200, 2990, 5, 5, 5]), 8000);
    expect(bandsToRecord(s.bands)).toEqual({ '1s': 4, '3s': 1, '7s': 0 });
    expect(s.slowOutsideBands).toBe(0);
  });

  it('respects the band edges at the histogram resolution', () => {
    // 979 ms is below 980 ms; 980 and 1350 ms are on the edges; 1352 ms is above 1350 ms (1024 us resolution there).
    const s = countSignatures(histogramMs([979, 980, 1350, 1352]), 8000);
    expect(bandsToRecord(s.bands)).toEqual({ '1s': 2, '3s': 0, '7s': 0 });
    expect(s.slowOutsideBands).toBe(2);
  });

  it('treats 200 ms as slow and 150 ms as not', () => {
    const s = countSignatures(histogramMs([150, 200, 2000]), 8000);
    expect(bandsToRecord(s.bands)).toEqual({ '1s': 0, '3s': 0, '7s': 0 });
    expect(s.slowOutsideBands).toBe(2);
  });

  it('is all zero for an empty histogram', () => {
    const s = countSignatures(createHistogram(), 8000);
    expect(bandsToRecord(s.bands)).toEqual({ '1s': 0, '3s': 0, '7s': 0 });
    expect(s.slowOutsideBands).toBe(0);
  });
});
