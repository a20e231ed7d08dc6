import { describe, expect, it } from 'vitest';
import { httpModeFigures } from '../../src/scenarios/tcpSyn/httpFigures.js';
import { createHistogram, decodeHistogram, encodeHistogram, recordMicros } from '../../src/histogram.js';
import type { HttpFigures } from '../../src/agents/tcp/loadWorker.js';

function encoded(pairs: readonly [number, number][]): string {
  const h = createHistogram();
  for (const [v, n] of pairs) for (let i = 0; i < n; i++) recordMicros(h, v);
  return encodeHistogram(h);
}

// Client A: 999 fast requests and one that waited for a 1 s SYN retransmit; client B: 500 fast ones.
const A: HttpFigures = { requestHistogram: encoded([[2_000, 999], [1_004_000, 1]]), connects: { attempted: 1000, succeeded: 1000, failed: 0 } };
const B: HttpFigures = { requestHistogram: encoded([[3_000, 500]]), connects: { attempted: 501, succeeded: 500, failed: 1 } };

describe('httpModeFigures', () => {
  it('merges the request histograms and sums the connects', () => {
    const { figures } = httpModeFigures({ attempts: 1501, clients: [A, B], keepalive: false, connectsRecorded: 1500 });
    expect(figures.connects).toEqual({ attempted: 1501, succeeded: 1500, failed: 1 });
    expect(figures.keepalive).toBe(false);
    const h = decodeHistogram(figures.requestHistogram);
    expect(h.totalCount).toBe(1500);
    expect(figures.requestLatencyMs.max).toBeGreaterThanOrEqual(1003);
    expect(figures.requestLatencyMs.max).toBeLessThan(1006);
    expect(figures.requestLatencyMs.p50).toBeGreaterThanOrEqual(1.99);
    expect(figures.requestLatencyMs.p50).toBeLessThan(2.01);
    expect(figures.requestLatencyMs.p99).toBeLessThan(3.01);
  });

  it('says nothing when every request opened exactly one connect and the counts agree', () => {
    expect(httpModeFigures({ attempts: 1501, clients: [A, B], keepalive: false, connectsRecorded: 1500 }).notes).toEqual([]);
  });

  it('with keep-alive, says how few connects the requests opened', () => {
    const pooled: HttpFigures = { requestHistogram: encoded([[1_500, 20_000]]), connects: { attempted: 32, succeeded: 32, failed: 0 } };
    const { figures, notes } = httpModeFigures({ attempts: 20_000, clients: [pooled], keepalive: true, connectsRecorded: 32 });
    expect(figures.keepalive).toBe(true);
    expect(notes).toHaveLength(2);
    expect(notes[0]).toMatch(/^keep-alive: 20000 requests opened only 32 TCP connects \(0 failed\)/);
    // -ln(0.05) / 32 * 100 000 = 9361.6
    expect(notes[1]).toBe("the verdict's detectable rate is per request; per connect, 32 connects without a race drop rule out only a rate of 9362 per 100 000 or more (95 %)");
  });

  it('notes requests without their own connect, and connect counts that disagree with the latencies recorded', () => {
    const { notes } = httpModeFigures({ attempts: 1600, clients: [A, B], keepalive: false, connectsRecorded: 1499 });
    expect(notes).toHaveLength(2);
    expect(notes[0]).toContain('1600 requests opened 1501 TCP connects');
    expect(notes[1]).toContain('counted 1500 successful connects but recorded 1499');
  });
});
