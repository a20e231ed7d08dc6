import { describe, expect, it } from 'vitest';
import { measurementRows } from '../../src/report/modeRows.js';
import type { HttpModeFigures, ModeResult } from '../../src/types.js';

function mode(name: string, http?: HttpModeFigures): ModeResult {
  return {
    mode: name,
    rule: '-j MASQUERADE',
    attempts: 2000,
    succeeded: 2000,
    failed: 0,
    failures: {},
    durationMs: 1000,
    connectsPerSecond: 2000,
    latencyMs: { p50: 0.9, p90: 1.5, p99: 3, p999: 1001.2, max: 1001.5 },
    signatures: { '1s': 1, '3s': 0, '7s': 0 },
    slowOutsideBands: 0,
    counters: { conntrack: {}, clients: {}, server: {} },
    attribution: { unit: 'lost-syn', lostSyns: 1, conntrackRace: 1, serverOverload: 0, unexplained: 0 },
    verdict: 'reproduced',
    reason: '',
    detectableRatePer100k: null,
    notes: [],
    histogram: '',
    ...(http ? { http } : {}),
  };
}

const HTTP: HttpModeFigures = {
  keepalive: false,
  requestLatencyMs: { p50: 2.5, p90: 4, p99: 8, p999: 1004.1, max: 1004.9 },
  connects: { attempted: 2000, succeeded: 2000, failed: 0 },
  requestHistogram: '',
};

const cells = (rows: string[][], label: string): string[] | undefined => rows.find((r) => r[0] === label)?.slice(1);

describe('measurementRows with --protocol http', () => {
  it('adds request latency beside connect latency, and the connects opened, and calls the rate requests/s', () => {
    const rows = measurementRows([mode('none', HTTP), mode('random-fully', { ...HTTP, keepalive: true, connects: { attempted: 32, succeeded: 32, failed: 0 } })]);
    expect(cells(rows, 'connect max')).toEqual(['1.00 s', '1.00 s']);
    expect(cells(rows, 'request p50')).toEqual(['2.50 ms', '2.50 ms']);
    expect(cells(rows, 'request p99.9')).toEqual(['1.00 s', '1.00 s']);
    expect(cells(rows, 'request max')).toEqual(['1.00 s', '1.00 s']);
    expect(cells(rows, 'new connections')).toEqual(['2,000', '32']);
    expect(cells(rows, 'requests/s')).toEqual(['2,000', '2,000']);
    expect(cells(rows, 'connects/s')).toBeUndefined();
  });

  it('leaves raw TCP tables as they were', () => {
    const rows = measurementRows([mode('none')]);
    expect(cells(rows, 'connects/s')).toEqual(['2,000']);
    expect(rows.some((r) => r[0]?.startsWith('request'))).toBe(false);
  });
});
