import { describe, expect, it } from 'vitest';
import { createHistogram, percentileMs, recordMicros } from '../../src/histogram.js';
import { addBuckets, indexOfValue, loadNativeAddon, nativeAddonMissing, valueAtIndex } from '../../src/agents/common/nativeAddon.js';
import { failuresByName } from '../../src/agents/tcp/nativeConnect.js';
import { dnsFailuresByName } from '../../src/agents/dns/nativeDns.js';
import { rng } from '../random.js';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { underCi } from '../ci.js';

/** Latencies from 1 µs to 10 min, spread evenly in log scale, plus the edges of the first buckets. */
function sampleMicros(n: number, seed: number): number[] {
  const r = rng(seed);
  const edges = [1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 600_000_000];
  return [...edges, ...Array.from({ length: n }, () => Math.max(1, Math.round(Math.exp(r() * Math.log(600_000_000)))))];
}

describe('native engine histogram buckets', () => {
  const values = sampleMicros(5000, 1234);

  it('file a value under the bucket whose lowest value hdr-histogram-js gives it', () => {
    const h = createHistogram() as unknown as { lowestEquivalentValue(v: number): number };
    for (const v of values) expect(valueAtIndex(indexOfValue(v)), `value ${v}`).toBe(h.lowestEquivalentValue(v));
  });

  it('rebuild the histogram the JS engines record: same count, same percentiles', () => {
    const direct = createHistogram();
    const counts = new Map<number, number>();
    for (const v of values) {
      recordMicros(direct, v);
      counts.set(indexOfValue(v), (counts.get(indexOfValue(v)) ?? 0) + 1);
    }
    const rebuilt = createHistogram();
    addBuckets(rebuilt, [...counts].flat());
    expect(rebuilt.totalCount).toBe(direct.totalCount);
    for (const p of [1, 50, 90, 99, 99.9, 100]) expect(percentileMs(rebuilt, p)).toBe(percentileMs(direct, p));
  });

  // The addons are built by `npm run build` (pretest) into dist/; under CI their absence is a failure, not a skip.
  // (Loaded from dist: under vitest the loaders run from src/, where no addon is put.) All share hdrBuckets.h.
  for (const addon of ['connect_engine', 'dns_engine', 'burst_engine']) {
    const engineFile = new URL(`../../dist/native/${addon}.node`, import.meta.url).pathname;
    const skipEngine = !existsSync(engineFile) && !underCi();
    it.skipIf(skipEngine)(`the compiled ${addon} files latencies under the same index as the JS model`, () => {
      expect(existsSync(engineFile), `${engineFile} (npm run build)`).toBe(true);
      const engine = createRequire(import.meta.url)(engineFile) as { bucketIndex(v: number): number };
      for (const v of values) expect(engine.bucketIndex(v), `value ${v}`).toBe(indexOfValue(v));
    });
  }
});

describe('native engine failures', () => {
  it('are named by errno, with 0 for attempts given up at a stop', () => {
    expect(failuresByName([111, 3, 110, 2, 0, 5, 113, 1])).toEqual({ ECONNREFUSED: 3, ETIMEDOUT: 2, ABORTED: 5, EHOSTUNREACH: 1 });
  });
  it('keep an errno without a name', () => {
    expect(failuresByName([4000, 1])).toEqual({ ERRNO_4000: 1 });
  });
});

describe('native DNS engine failures', () => {
  const RCODE_KEY = 4096;
  it('are named as the raw JS path names them: errnos, rcodes above RCODE_KEY, 0 for lookups given up at a stop', () => {
    expect(dnsFailuresByName([110, 4, RCODE_KEY + 3, 2, RCODE_KEY + 2, 1, 0, 7, 111, 1], RCODE_KEY)).toEqual({
      ETIMEDOUT: 4, NXDOMAIN: 2, SERVFAIL: 1, ABORTED: 7, ECONNREFUSED: 1,
    });
  });
  it('keep an rcode or errno without a name', () => {
    expect(dnsFailuresByName([RCODE_KEY + 12, 1, 4000, 2], RCODE_KEY)).toEqual({ RCODE_12: 1, ERRNO_4000: 2 });
  });
  it('use the RCODE_KEY the compiled engine exports', () => {
    const file = new URL('../../dist/native/dns_engine.node', import.meta.url).pathname;
    if (!existsSync(file) && !underCi()) return;
    expect((createRequire(import.meta.url)(file) as { RCODE_KEY: number }).RCODE_KEY).toBe(RCODE_KEY);
  });
});

describe('a shipped engine that does not fit this machine', () => {
  const engineFile = new URL('../../dist/native/connect_engine.node', import.meta.url).pathname;
  it.skipIf(!existsSync(engineFile) && !underCi())('is not loaded, and the note says why: the loader\'s own words and this platform', () => {
    // The built engine with its ELF machine field (e_machine, offset 18) set to AArch64: what an arm64 build is here.
    const elf = Buffer.from(readFileSync(engineFile));
    elf.writeUInt16LE(183, 18);
    const dir = mkdtempSync(path.join(tmpdir(), 'repro-engine-'));
    const file = path.join(dir, 'connect_engine.node');
    writeFileSync(file, elf);
    try {
      expect(loadNativeAddon(file, ['start'])).toBeNull();
      const note = nativeAddonMissing(file);
      expect(note).toContain(`${file} does not load on Node ${process.version} (${process.platform}-${process.arch}): `);
      expect(note).toContain('cannot open shared object file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('that was never built is named as such', () => {
    expect(nativeAddonMissing('/nonexistent/connect_engine.node')).toMatch(/was not built/);
  });
});
