/**
 * The native DNS lookup engine (src/native/dnsEngine.c, built by `npm run build` into dist/native/): loading it,
 * and naming what it counted. Its latencies come in the same HdrHistogram buckets as the connect engine's
 * (nativeConnect.ts: addBuckets); its failure keys are errnos, rcodes above RCODE_KEY, and 0 for ABORTED.
 */
import { fileURLToPath } from 'node:url';
import { rcodeName } from './wire.js';
import { errnoName } from '../common/errnoName.js';
import { lazyAddon, type NativeCollected, type NativeEngine } from '../common/nativeAddon.js';

/** The addon as `require` returns it. */
export interface NativeDnsModule {
  start(
    server: string, port: number, zoneWire: Buffer, nameOffset: number, concurrency: number, quota: number, durationMs: number,
    tryTimeoutMs: number, attempts: number, stallMs: number, shared: Int32Array,
  ): NativeEngine;
  finished(engine: NativeEngine): boolean;
  collect(engine: NativeEngine): NativeCollected;
  /** The counts index the engine files a latency (µs) under. */
  bucketIndex(microseconds: number): number;
  /** Failure keys from here up are RCODE_KEY + the response's rcode. */
  readonly RCODE_KEY: number;
}

/** Slots of the engine's shared Int32Array. */
export const DNS_SHARED = { ATTEMPTS: 0, SUCCEEDED: 1, FAILED: 2, STALLS: 3, QUERIES: 4, RETRIES: 5, STOP: 6, LENGTH: 8 } as const;

/** The addon's file next to the compiled agents: dist/native/dns_engine.node. */
export const NATIVE_DNS_ENGINE_FILE = fileURLToPath(new URL('../../native/dns_engine.node', import.meta.url));

const engine = lazyAddon<NativeDnsModule>(NATIVE_DNS_ENGINE_FILE, ['start', 'finished', 'collect', 'bucketIndex']);
/** The engine if it was built and loads on this Node, else null (the raw client then uses libuv handles from JS). */
export const nativeDnsModule = engine.module;
export const nativeDnsMissing = engine.missing;

/** The engine's [key, count, ...] failures by the names the JS path gives them: ABORTED, errno names, rcode names. */
export function dnsFailuresByName(pairs: readonly number[], rcodeKey: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const key = pairs[i] ?? 0;
    const name = key === 0 ? 'ABORTED' : key >= rcodeKey ? rcodeName(key - rcodeKey) : errnoName(key);
    out[name] = (out[name] ?? 0) + (pairs[i + 1] ?? 0);
  }
  return out;
}
