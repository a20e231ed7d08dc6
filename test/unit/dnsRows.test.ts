import { describe, expect, it } from 'vitest';
import { analyzeDnsMode } from '../../src/scenarios/dns/analyze.js';
import { dnsRows } from '../../src/scenarios/dns/rows.js';
import { attemptNoun, measurementRows } from '../../src/report/modeRows.js';
import { createHistogram, encodeHistogram, recordMicros } from '../../src/histogram.js';
import type { ModeResult } from '../../src/types.js';

function dnsMode(mode: string, conntrack: Record<string, number>, server: Record<string, number>): ModeResult {
  const h = createHistogram();
  for (let i = 0; i < 10; i++) recordMicros(h, 800);
  const histogram = encodeHistogram(h);
  h.destroy();
  return analyzeDnsMode({
    mode, rule: 'r', durationMs: 100, timeoutMs: 5000, attempts: 2, detectRatePer100k: 25,
    clients: [{ lookups: 10, succeeded: 10, failed: 0, failures: {}, histogram, queriesSent: 20, retries: 0, partial: 0 }],
    counters: { conntrack, clients: { UdpRcvbufErrors: 0 }, server },
  });
}

describe('dns rows of the terminal table', () => {
  const none = dnsMode('none', { insert_failed: 0, drop: 0, clashres: 12 }, { UdpRcvbufErrors: 0, UdpInErrors: 0 });
  const vc = dnsMode('use-vc', { insert_failed: 0, drop: 0 }, { UdpRcvbufErrors: 2, UdpInErrors: 2 });

  it('show clashres and the harness drops per mode, "-" where a kernel has no such column', () => {
    const rows = dnsRows([none, vc]);
    expect(rows[0]).toEqual(['conntrack clashres', '+12', '-']);
    // none: the kernel resolved 12 clashes and lost no lookup (race-resolved); use-vc: a kernel before 5.10, nothing resolved.
    expect(rows[1]).toEqual(['race resolved by the kernel', 'YES (12)', 'no (>= 0)']);
    expect(none.verdict).toBe('race-resolved');
    expect(rows[2]).toEqual(['server UdpRcvbufErrors', '0', '+2']);
    expect(rows.map((r) => r[0])).toContain('clients UdpRcvbufErrors');
  });

  it('name lookups, not connects, when every mode counts lost queries', () => {
    expect(attemptNoun([none, vc])).toBe('lookup');
    expect(measurementRows([none]).map((r) => r[0])).toContain('lookups/s');
    expect(measurementRows([none]).map((r) => r[0])).toContain('lookup p99');
    expect(attemptNoun([{ ...none, attribution: { ...none.attribution, unit: 'lost-syn' } }])).toBe('connect');
    expect(attemptNoun([])).toBe('connect');
  });
});
