import { describe, expect, it } from 'vitest';
import { analyzeVxlanMode, checksumErrors, summarizeVxlan, type VxlanModeInput } from '../../src/scenarios/vxlan/analyze.js';
import { parseVxlanMode } from '../../src/scenarios/vxlan/options.js';
import { createHistogram, encodeHistogram, recordMicros } from '../../src/histogram.js';
import { modeRates } from '../../src/analysis/rates.js';
import { compareModes } from '../../src/analysis/comparisons.js';

function histogramOf(ms: number[]): string {
  const h = createHistogram();
  for (const v of ms) recordMicros(h, v * 1000);
  const e = encodeHistogram(h);
  h.destroy();
  return e;
}

function input(over: Partial<VxlanModeInput> & { latencies?: number[]; failures?: Record<string, number> } = {}): VxlanModeInput {
  const latencies = over.latencies ?? Array.from({ length: 1000 }, (_, i) => 1 + (i % 20));
  const failures = over.failures ?? {};
  const failed = Object.values(failures).reduce((s, n) => s + n, 0);
  return {
    mode: parseVxlanMode('legacy'),
    rule: 'KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE --random-fully',
    client: { attempts: latencies.length + failed, succeeded: latencies.length, failed, failures, histogram: histogramOf(latencies) },
    counters: {
      conntrack: { insert_failed: 0, drop: 0 },
      clients: { TcpExtTCPSynRetrans: 0, UdpInCsumErrors: 0 },
      server: { TcpExtListenOverflows: 0, TcpExtListenDrops: 0, TcpInCsumErrors: 0 },
    },
    receiver: { UdpInCsumErrors: 0 },
    outer: { outerFlows: 950, outerFlowsRemapped: 950, example: 'udp 17 29 src=...' },
    markedOuterFlows: 950,
    masqueradeHits: 1950,
    durationMs: 2000,
    connectTimeoutMs: 70_000,
    receiverVerifiesChecksums: true,
    ...over,
  };
}

describe('analyzeVxlanMode', () => {
  it('legacy on a fixed kernel: double SNAT present, no drops', () => {
    const m = analyzeVxlanMode(input());
    expect(m.verdict).toBe('reproduced');
    expect(m.vxlan).toMatchObject({ doubleSnat: true, drops: false, outerFlows: 950, outerFlowsRemapped: 950, markedOuterFlows: 950, rules: 'legacy', masqueradeFlag: 'random-fully', offloadOff: false });
    expect(m.reason).toMatch(/^double SNAT: 950 new outer VXLAN flows .* 950 of 950 with a new source port; drops: none/);
    expect(m.attribution).toEqual({ unit: 'lost-syn', lostSyns: 0, conntrackRace: 0, serverOverload: 0, checksum: 0, unexplained: 0, stalled: 0, raceStalled: 0, neverRetransmitted: 0 });
    expect(m.attempts).toBe(1000);
    expect(m.connectsPerSecond).toBe(500);
    expect(Object.keys(m.signatures)).toEqual(['1s', '3s', '7s', '15s', '31s', '63s']);
    expect(m.mode).toBe('legacy');
  });

  it('patched: outer flows seen, none marked or remapped -> not reproduced', () => {
    const m = analyzeVxlanMode(input({
      mode: parseVxlanMode('patched'),
      outer: { outerFlows: 940, outerFlowsRemapped: 0, example: null },
      markedOuterFlows: 0,
      masqueradeHits: 1000,
    }));
    expect(m.verdict).toBe('not-reproduced');
    expect(m.vxlan?.doubleSnat).toBe(false);
    expect(m.reason).toMatch(/^no double SNAT: none of 940 outer VXLAN flows .*MASQUERADE hit 1000 new flows/);
  });

  it('without --random-fully the outer flows are masqueraded but keep their port, and a note says why that is harmless', () => {
    const m = analyzeVxlanMode(input({ mode: parseVxlanMode('legacy+none'), outer: { outerFlows: 950, outerFlowsRemapped: 0, example: null } }));
    expect(m.verdict).toBe('reproduced');
    expect(m.reason).toContain('source ports kept');
    expect(m.notes.join(' ')).toMatch(/kept their source port/);
  });

  it('an old kernel: checksum errors on node B and 1 s / 3 s stalls are counted as drops and attributed to them', () => {
    const latencies = [...Array.from({ length: 990 }, () => 5), ...Array.from({ length: 8 }, () => 1005), 3010, 3050];
    const m = analyzeVxlanMode(input({
      latencies,
      receiver: { UdpInCsumErrors: 11 },
      counters: { conntrack: {}, clients: { TcpExtTCPSynRetrans: 12 }, server: { TcpExtListenOverflows: 0 } },
    }));
    expect(m.signatures['1s']).toBe(8);
    expect(m.signatures['3s']).toBe(2);
    expect(m.vxlan?.drops).toBe(true);
    expect(m.vxlan?.checksumErrors['nodeB UdpInCsumErrors']).toBe(11);
    // 8 + 2x2 = 12 lost SYNs, 11 matched by checksum errors: checksum drops, never the conntrack race.
    expect(m.attribution).toEqual({ unit: 'lost-syn', lostSyns: 12, conntrackRace: 0, serverOverload: 0, checksum: 11, unexplained: 1, stalled: 10, raceStalled: 0, neverRetransmitted: 0 });
    expect(m.reason).toMatch(/drops: 11 checksum errors, 12 lost SYNs \(11 matched by checksum errors, 1 unexplained\)/);
    const rates = modeRates(m);
    expect(rates.find((r) => r.metric === 'race')).toBeUndefined();
    expect(rates.find((r) => r.metric === 'checksum')).toMatchObject({ count: 11, description: 'lost SYNs matched by checksum errors on the path' });
    expect(rates.some((r) => r.description.includes('conntrack race counter'))).toBe(false);
  });

  it('compares what vxlan tests: the share of outer flows masqueraded twice (Fisher), and stalled connects (not the race counter)', () => {
    const legacy = analyzeVxlanMode(input({ outer: { outerFlows: 3746, outerFlowsRemapped: 3746, example: null }, markedOuterFlows: 3746 }));
    const patched = analyzeVxlanMode(input({ mode: parseVxlanMode('patched'), outer: { outerFlows: 3700, outerFlowsRemapped: 0, example: null }, markedOuterFlows: 0 }));
    const cs = compareModes([legacy, patched]);
    expect(cs.map((c) => c.metric)).toEqual(['double_snat', 'lost']);
    const doubled = cs[0];
    expect(doubled).toMatchObject({ verdict: 'better', baselineCount: 3746, baselineAttempts: 3746, candidateCount: 0, candidateAttempts: 3700, measure: 'odds ratio' });
    expect(doubled?.reason).not.toContain('race');
    expect(doubled?.reason).toContain("Fisher's exact test (central) p < 1e-300");
    // No drops in either mode: 0 vs 0, which more connects would not settle.
    expect(cs[1]).toMatchObject({ verdict: 'inconclusive', attemptsToSettle: null });
  });

  it('timeouts count as the SYNs they must have lost', () => {
    const m = analyzeVxlanMode(input({ failures: { ETIMEDOUT: 1 }, counters: { conntrack: {}, clients: { TcpExtTCPSynRetrans: 99 }, server: {} } }));
    // 70 s connect timeout: 1+2+4+8+16+32 = 63 s passed, the 7th SYN was pending
    expect(m.attribution.lostSyns).toBe(7);
    expect(m.vxlan?.drops).toBe(true);
  });

  it('is invalid when the pod listener dropped SYNs or connects failed for other reasons', () => {
    expect(analyzeVxlanMode(input({ counters: { conntrack: {}, clients: {}, server: { TcpExtListenOverflows: 3 } } })).verdict).toBe('invalid');
    expect(analyzeVxlanMode(input({ failures: { ECONNREFUSED: 5 } })).verdict).toBe('invalid');
    expect(analyzeVxlanMode(input({ latencies: [] })).verdict).toBe('invalid');
  });

  it('is inconclusive when no outer flow was found at all', () => {
    const m = analyzeVxlanMode(input({ outer: { outerFlows: 0, outerFlowsRemapped: 0, example: null }, markedOuterFlows: 0 }));
    expect(m.verdict).toBe('inconclusive');
  });

  it('says when zero checksum errors prove little: the receiver did not count broken checksums, or was not checked', () => {
    expect(analyzeVxlanMode(input()).notes.join(' ')).not.toMatch(/checksum/);
    expect(analyzeVxlanMode(input({ receiverVerifiesChecksums: false })).notes.join(' ')).toMatch(/did not count datagrams sent with a broken checksum/);
    expect(analyzeVxlanMode(input({ receiverVerifiesChecksums: null })).notes.join(' ')).toMatch(/was not checked/);
  });

  it('sums the checksum counters of every namespace on the path', () => {
    const c = checksumErrors({
      receiver: { UdpInCsumErrors: 1, TcpInCsumErrors: 2 },
      counters: { conntrack: {}, clients: { UdpInCsumErrors: 4, TcpInCsumErrors: 8 }, server: { TcpInCsumErrors: 16 } },
    });
    expect(Object.values(c).reduce((s, n) => s + n, 0)).toBe(31);
  });

  it('summarizes each mode in a line', () => {
    const s = summarizeVxlan([analyzeVxlanMode(input()), analyzeVxlanMode(input({ mode: parseVxlanMode('patched'), markedOuterFlows: 0, outer: { outerFlows: 9, outerFlowsRemapped: 0, example: null } }))]);
    expect(s).toBe('legacy: double SNAT yes (950/950 outer flows remapped), drops no (0 lost SYNs in 1000 connects); patched: double SNAT no (0/9 outer flows remapped), drops no (0 lost SYNs in 1000 connects)');
  });
});
