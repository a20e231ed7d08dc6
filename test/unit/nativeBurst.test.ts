import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { BURST_DEFAULTS, burstConfigProblems, burstOutcome, burstRounds, portRangesOverlap, type BurstCollected } from '../../src/agents/tcp/nativeBurst.js';
import { decodeHistogram, percentileMs } from '../../src/histogram.js';
import { indexOfValue } from '../../src/agents/common/nativeAddon.js';
import { DEFAULT_PORT_RANGE, parsePortRange } from '../../src/scenarios/tcpSyn/options.js';
import type { TcpBurstConfig } from '../../src/agents/common/protocol.js';
import { underCi } from '../ci.js';

const config = (over: Partial<TcpBurstConfig> = {}): TcpBurstConfig => ({
  host: '10.0.0.2', port: 8080, netnsPaths: ['/run/netns/a', '/run/netns/b'], connections: BURST_DEFAULTS.connections,
  durationMs: BURST_DEFAULTS.durationMs, connectTimeoutMs: BURST_DEFAULTS.connectTimeoutMs, burstPorts: BURST_DEFAULTS.burstPorts,
  inFlightRounds: BURST_DEFAULTS.inFlightRounds, progressIntervalMs: 1000, ...over,
});

describe('burst rounds', () => {
  it('never make more attempts than asked, and at least one round', () => {
    expect(burstRounds(20_000, 2)).toBe(10_000);
    expect(burstRounds(20_001, 2)).toBe(10_000);
    expect(burstRounds(10, 3)).toBe(3);
    expect(burstRounds(1, 2)).toBe(1);
  });
});

describe('port ranges', () => {
  it('overlap when they share a port, ends included', () => {
    expect(portRangesOverlap([10_000, 32_767], [32_767, 60_999])).toBe(true);
    expect(portRangesOverlap([10_000, 32_767], [32_768, 60_999])).toBe(false);
    expect(portRangesOverlap([40_100, 40_100], [40_000, 40_199])).toBe(true);
    expect(portRangesOverlap([1024, 2000], [3000, 4000])).toBe(false);
  });
  it('the default burst ports lie outside both default ephemeral ranges', () => {
    for (const text of Object.values(DEFAULT_PORT_RANGE)) expect(portRangesOverlap(BURST_DEFAULTS.burstPorts, parsePortRange(text))).toBe(false);
  });
});

describe('burst config', () => {
  it('the defaults can run', () => {
    expect(burstConfigProblems(config())).toEqual([]);
  });
  it('names each problem', () => {
    expect(burstConfigProblems(config({ netnsPaths: [] }))).toEqual(['netnsPaths: 1 to 64 client namespaces, got 0']);
    expect(burstConfigProblems(config({ netnsPaths: Array.from({ length: 65 }, (_, i) => `/run/netns/c${i}`) }))[0]).toMatch(/got 65/);
    expect(burstConfigProblems(config({ netnsPaths: ['/run/netns/a', ''] }))).toEqual(['netnsPaths: every entry must be a path of 1 to 255 characters']);
    expect(burstConfigProblems(config({ burstPorts: [500, 2000] }))[0]).toMatch(/^burstPorts: \[LO, HI\]/);
    expect(burstConfigProblems(config({ burstPorts: [3000, 2000] }))[0]).toMatch(/^burstPorts: \[LO, HI\]/);
    expect(burstConfigProblems(config({ burstPorts: [8000, 9000], inFlightRounds: 100 }))).toEqual(['burstPorts 8000-9000 hold the server port 8080']);
    expect(burstConfigProblems(config({ connections: 0 }))[0]).toMatch(/^connections/);
    expect(burstConfigProblems(config({ durationMs: 0 }))[0]).toMatch(/^durationMs/);
    expect(burstConfigProblems(config({ connectTimeoutMs: -1 }))[0]).toMatch(/^connectTimeoutMs/);
    expect(burstConfigProblems(config({ inFlightRounds: 0 }))[0]).toMatch(/^inFlightRounds/);
    expect(burstConfigProblems(config({ inFlightRounds: 16_385 }))[0]).toMatch(/^inFlightRounds/);
    expect(burstConfigProblems(config({ cpus: [0, -1] }))).toEqual(['cpus: CPU numbers 0 to 1023']);
  });
  it('wants more ports than two full windows can hold, so a round always finds its port free', () => {
    expect(burstConfigProblems(config({ burstPorts: [10_000, 14_095], inFlightRounds: 2048 }))).toEqual([
      'burstPorts 10000-14095 hold 4096 ports, not more than the 2 x 2048 a full window may hold',
    ]);
    expect(burstConfigProblems(config({ burstPorts: [10_000, 14_096], inFlightRounds: 2048 }))).toEqual([]);
  });
});

describe('burst outcome', () => {
  it('gives the histograms, failures by name and each client beside its namespace', () => {
    const got: BurstCollected = {
      latency: [indexOfValue(50), 3, indexOfValue(1_004_000), 1],
      failure: [indexOfValue(8_000_000), 1],
      failures: [110, 1],
      rounds: 2,
      skippedRounds: 1,
      clients: [
        { cpu: 0, attempts: 2, succeeded: 2, failed: 0, stalls: 1 },
        { cpu: 1, attempts: 2, succeeded: 1, failed: 1, stalls: 0 },
      ],
    };
    const o = burstOutcome(got, ['/run/netns/a', '/run/netns/b']);
    expect(o.failures).toEqual({ ETIMEDOUT: 1 });
    expect(o.burst).toEqual({
      rounds: 2,
      skippedRounds: 1,
      clients: [
        { netnsPath: '/run/netns/a', cpu: 0, attempts: 2, succeeded: 2, failed: 0, stalls: 1 },
        { netnsPath: '/run/netns/b', cpu: 1, attempts: 2, succeeded: 1, failed: 1, stalls: 0 },
      ],
    });
    const h = decodeHistogram(o.histogram);
    expect(h.totalCount).toBe(4);
    expect(percentileMs(h, 100)).toBeCloseTo(1004, 0);
    h.destroy();
    const f = decodeHistogram(o.failureHistogram);
    expect(f.totalCount).toBe(1);
    f.destroy();
  });
});

// The addon is built by `npm run build` (pretest) into dist/; under CI its absence is a failure, not a skip.
const engineFile = new URL('../../dist/native/burst_engine.node', import.meta.url).pathname;
describe.skipIf(!existsSync(engineFile) && !underCi())('the compiled burst engine', () => {
  type Start = (...args: unknown[]) => unknown;
  const engine = (): { start: Start } => createRequire(import.meta.url)(engineFile) as { start: Start };
  const shared = (): Int32Array => new Int32Array(new SharedArrayBuffer(32));
  const args = (over: Record<number, unknown>): unknown[] => {
    const a: unknown[] = ['10.0.0.2', 8080, ['/run/netns/a'], [], 10, 1000, 1000, 10_000, 32_767, 16, shared()];
    for (const [i, v] of Object.entries(over)) a[Number(i)] = v;
    return a;
  };
  it('refuses what it cannot run before starting a thread', () => {
    expect(existsSync(engineFile), `${engineFile} (npm run build)`).toBe(true);
    const { start } = engine();
    expect(() => start(...args({ 0: 'not-an-ip' }))).toThrow(/must be an IP address/);
    expect(() => start(...args({ 2: [] }))).toThrow(/netnsPaths must be an array of 1 to 64 paths/);
    expect(() => start(...args({ 3: [0, 5000] }))).toThrow(/CPU number is out of range/);
    expect(() => start(...args({ 7: 40_000, 8: 30_000 }))).toThrow(/out of range/);
    expect(() => start(...args({ 10: new Int32Array(4) }))).toThrow(/Int32Array of 8/);
    expect(() => start(...args({ 2: ['/nonexistent/repro-netns'] }))).toThrow(/cannot open network namespace \/nonexistent\/repro-netns: No such file or directory/);
  });
});
