import { describe, expect, it } from 'vitest';
import { analyzeDnsMode, attributeLostQueries, clashSentence, dnsSignatureBands, type DnsClientOutcome, type DnsModeInput } from '../../src/scenarios/dns/analyze.js';
import { createHistogram, encodeHistogram, recordMicros } from '../../src/histogram.js';
import type { ModeCounters } from '../../src/types.js';

function encoded(pairs: readonly [number, number][]): string {
  const h = createHistogram();
  for (const [v, n] of pairs) for (let i = 0; i < n; i++) recordMicros(h, v);
  const text = encodeHistogram(h);
  h.destroy();
  return text;
}

// 2 000 lookups: 1 994 fast, three ~5 s stalls, one ~10 s stall, one slow outside the bands, one failed by timeout.
const CLIENT_A: DnsClientOutcome = {
  lookups: 1000, succeeded: 999, failed: 1, failures: { ETIMEDOUT: 1 },
  histogram: encoded([[900, 995], [5_012_000, 2], [10_030_000, 1], [700_000, 1]]),
  queriesSent: 2008, retries: 4, partial: 0,
};
const CLIENT_B: DnsClientOutcome = {
  lookups: 1000, succeeded: 1000, failed: 0, failures: {},
  histogram: encoded([[1200, 999], [5_004_000, 1]]),
  queriesSent: 2002, retries: 1, partial: 0,
};

function counters(over: Partial<ModeCounters> = {}): ModeCounters {
  return {
    conntrack: { insert_failed: 4, drop: 4, clashres: 120 },
    clients: { UdpRcvbufErrors: 0 },
    server: { UdpRcvbufErrors: 0, UdpInErrors: 0 },
    ...over,
  };
}

function input(over: Partial<DnsModeInput> = {}): DnsModeInput {
  return {
    mode: 'none', rule: 'MASQUERADE', clients: [CLIENT_A, CLIENT_B], counters: counters(), durationMs: 2000,
    timeoutMs: 5000, attempts: 2, detectRatePer100k: 25, ...over,
  };
}

describe('DNS timeout bands', () => {
  it('are k x the resolver timeout for k = 1..attempts, with the tcp-syn tolerances', () => {
    expect(dnsSignatureBands(5000, 2)).toEqual([
      { name: '5s', lostSyns: 1, loMs: 4980, hiMs: 5550 },
      { name: '10s', lostSyns: 2, loMs: 9980, hiMs: 10800 },
    ]);
    expect(dnsSignatureBands(1000, 3).map((b) => b.name)).toEqual(['1s', '2s', '3s']);
  });
});

describe('analyzeDnsMode', () => {
  it('counts lookups, stalls per band, failures apart, and lost queries', () => {
    const m = analyzeDnsMode(input());
    expect(m.attempts).toBe(2000);
    expect(m.succeeded + m.failed).toBe(m.attempts);
    expect(m.failures).toEqual({ ETIMEDOUT: 1 });
    expect(m.signatures).toEqual({ '5s': 3, '10s': 1 });
    expect(m.slowOutsideBands).toBe(1);
    // 3 x 1 (5 s) + 1 x 2 (10 s) + 1 failed lookup x 2 attempts
    // Lookups that stalled: 3 + 1 in the bands + 1 timed out = 5, the unit comparisons test; 4 of them the race's at most.
    expect(m.attribution).toEqual({ unit: 'lost-query', lostSyns: 7, conntrackRace: 4, serverOverload: 0, unexplained: 3, stalled: 5, raceStalled: 4 });
    expect(m.verdict).toBe('reproduced');
    expect(m.reason).toContain('4 of 7 lost queries');
    expect(m.reason).toContain('resolved 120 clashes (clashres +120)');
    expect(m.connectsPerSecond).toBe(1000);
    expect(m.latencyMs.max).toBeGreaterThan(10_000);
    expect(m.notes.join('\n')).toContain('4010 queries sent, 5 of them retries');
  });

  it('names the slowest socket path of the raw clients, with a note unless it is the native engine', () => {
    const native = analyzeDnsMode(input({ clients: [{ ...CLIENT_A, socketPath: 'native' }, { ...CLIENT_B, socketPath: 'native' }] }));
    expect(native.socketPath).toBe('native');
    expect(native.notes.join('\n')).not.toContain('native DNS engine');
    const mixed = analyzeDnsMode(input({ clients: [{ ...CLIENT_A, socketPath: 'native' }, { ...CLIENT_B, socketPath: 'udp_wrap' }] }));
    expect(mixed.socketPath).toBe('udp_wrap');
    expect(mixed.notes.join('\n')).toContain('through libuv UDP handles from JavaScript, not the native DNS engine');
    const libc = analyzeDnsMode(input());
    expect(libc.socketPath).toBeUndefined();
  });

  it('is invalid when the DNS server dropped queries, even with insert_failed', () => {
    const m = analyzeDnsMode(input({ counters: counters({ server: { UdpRcvbufErrors: 3, UdpInErrors: 5 } }) }));
    expect(m.verdict).toBe('invalid');
    expect(m.reason).toContain('dropped 5 queries');
    expect(m.attribution.conntrackRace).toBe(4);
    expect(m.attribution.serverOverload).toBe(3);
  });

  it('is invalid when the clients dropped answers', () => {
    const m = analyzeDnsMode(input({ counters: counters({ clients: { UdpRcvbufErrors: 2 } }) }));
    expect(m.verdict).toBe('invalid');
    expect(m.reason).toContain('clients dropped 2 answers');
  });

  it('is invalid when lookups fail for other reasons than a timeout', () => {
    const bad = { ...CLIENT_B, failed: 5, succeeded: 995, failures: { ENOTFOUND: 5 } };
    const m = analyzeDnsMode(input({ clients: [CLIENT_A, bad] }));
    expect(m.verdict).toBe('invalid');
    expect(m.reason).toContain('5 lookups failed');
  });

  it('does not call a stall the race without insert_failed; clashes the kernel resolved are their own outcome', () => {
    const m = analyzeDnsMode(input({ counters: counters({ conntrack: { insert_failed: 0, drop: 0, clashres: 7 } }) }));
    expect(m.attribution.conntrackRace).toBe(0);
    expect(m.attribution.unexplained).toBe(7);
    expect(m.verdict).toBe('race-resolved');
    expect(m.reason).toContain('resolved 7 clashes');
    expect(m.reason).toContain('this kernel races here and hides it');
  });

  it('without clashes, too few lookups is inconclusive and names the one-sided bound', () => {
    const m = analyzeDnsMode(input({ counters: counters({ conntrack: { insert_failed: 0, drop: 0, clashres: 0 } }) }));
    expect(m.verdict).toBe('inconclusive');
    expect(m.reason).toContain('one-sided 95 %; needs 11983');
  });

  it('before 5.10 (no clashres column): race drops are min(insert_failed, drop) and the reason never says the kernel dropped insert_failed', () => {
    // insert_failed +4 counts resolved clashes too on such a kernel; drop +1: at most one query was dropped.
    const m = analyzeDnsMode(input({ counters: counters({ conntrack: { insert_failed: 4, drop: 1 } }) }));
    expect(m.attribution.conntrackRace).toBe(1);
    expect(m.verdict).toBe('reproduced');
    expect(m.reason).not.toMatch(/dropped 4/);
    expect(m.reason).toContain('at most 1 clashing packets were dropped and at least 3 clashes were resolved');
  });

  it('is invalid, as tcp-syn is, when the kernel has no usable race counter', () => {
    expect(analyzeDnsMode(input({ counters: counters({ conntrack: {} }) })).verdict).toBe('invalid');
    // insert_failed alone before 5.10 cannot tell a dropped clash from a resolved one.
    const m = analyzeDnsMode(input({ counters: counters({ conntrack: { insert_failed: 3 } }) }));
    expect(m.verdict).toBe('invalid');
    expect(m.reason).toContain('no race drop can be told');
  });

  it('takes the timeout and attempts from the resolv.conf glibc read, as res_setoptions() parses it', () => {
    // timeout:2 attempts:3 -> bands at 2, 4, 6 s; a 40 s timeout is capped at RES_MAXRETRANS (30), 9 attempts at RES_MAXRETRY (5).
    const conf = '# written by repro\nnameserver 10.0.0.2\noptions timeout:2 attempts:3 single-request\n';
    const m = analyzeDnsMode(input({ resolvConf: conf }));
    expect(Object.keys(m.signatures)).toEqual(['2s', '4s', '6s']);
    expect(m.resolver).toEqual({ timeoutMs: 2000, attempts: 3, source: 'resolv.conf' });
    expect(m.notes.some((n) => n.includes('the bands follow the resolv.conf'))).toBe(true);
    expect(analyzeDnsMode(input({ resolvConf: 'options timeout:40 attempts:9' })).resolver).toEqual({ timeoutMs: 30_000, attempts: 5, source: 'resolv.conf' });
    expect(analyzeDnsMode(input()).resolver).toEqual({ timeoutMs: 5000, attempts: 2, source: 'client-config' });
  });

  it('is not-reproduced with enough clean lookups', () => {
    const clean = { ...CLIENT_B, lookups: 20_000, succeeded: 20_000, histogram: encoded([[900, 20_000]]) };
    const m = analyzeDnsMode(input({ clients: [clean], counters: counters({ conntrack: { insert_failed: 0, drop: 0, clashres: 0 } }) }));
    expect(m.verdict).toBe('not-reproduced');
    expect(m.detectableRatePer100k).toBeCloseTo(14.98, 1);
  });

  it('keeps the scenario notes first', () => {
    const m = analyzeDnsMode(input({ notes: ['single-request is a resolv.conf option'] }));
    expect(m.notes[0]).toBe('single-request is a resolv.conf option');
  });
});

describe('clash accounting', () => {
  it('says which way the kernel went', () => {
    expect(clashSentence({ insert_failed: 0, clashres: 0 })).toBe('no clash reached conntrack (clashres 0, insert_failed 0)');
    expect(clashSentence({ insert_failed: 2, clashres: 9 })).toBe('the kernel resolved 9 clashes (clashres +9) and dropped 2 (insert_failed +2)');
    expect(clashSentence({ insert_failed: 1, clashres: 0 })).toBe('the kernel dropped 1 (insert_failed +1)');
    expect(clashSentence({ insert_failed: 3 })).toContain('has no clashres column');
    expect(clashSentence({ insert_failed: 3 })).not.toContain('dropped 3');
  });

  it('credits the race first, the harness next, and never more than was lost', () => {
    expect(attributeLostQueries(3, { insert_failed: 10 }, 5)).toEqual({ unit: 'lost-query', lostSyns: 3, conntrackRace: 3, serverOverload: 0, unexplained: 0 });
    expect(attributeLostQueries(6, { insert_failed: 1 }, 2)).toEqual({ unit: 'lost-query', lostSyns: 6, conntrackRace: 1, serverOverload: 2, unexplained: 3 });
    expect(attributeLostQueries(2, { drop: 2 }, 0).conntrackRace).toBe(2);
  });
});
