/**
 * The native connect engine (src/native/connectEngine.c, built by `npm run build` into dist/native/): its
 * functions, its shared slots, and its failures by name (src/agents/common/nativeAddon.ts loads it).
 */
import { fileURLToPath } from 'node:url';
import { errnoName } from '../common/errnoName.js';
import { lazyAddon, type NativeCollected, type NativeEngine } from '../common/nativeAddon.js';

/** The addon as `require` returns it. */
export interface NativeConnectModule {
  start(
    host: string, port: number, concurrency: number, quota: number, durationMs: number, connectTimeoutMs: number,
    rst: boolean, shared: Int32Array,
  ): NativeEngine;
  finished(engine: NativeEngine): boolean;
  collect(engine: NativeEngine): NativeCollected;
  /** The counts index the engine files a latency (µs) under. */
  bucketIndex(microseconds: number): number;
}

/** Slots of the engine's shared Int32Array. */
export const SHARED = { ATTEMPTS: 0, SUCCEEDED: 1, FAILED: 2, STALLS: 3, STOP: 4, LENGTH: 8 } as const;

/** The addon's file next to the compiled agents: dist/native/connect_engine.node. */
export const NATIVE_ENGINE_FILE = fileURLToPath(new URL('../../native/connect_engine.node', import.meta.url));

const engine = lazyAddon<NativeConnectModule>(NATIVE_ENGINE_FILE, ['start', 'finished', 'collect', 'bucketIndex']);
/** The engine if it was built and loads on this Node, else null (the agents then connect through libuv handles). */
export const nativeConnectModule = engine.module;
export const nativeConnectMissing = engine.missing;

/** The engine's [errno, count, ...] list by name; errno 0 marks attempts given up at a stop (ABORTED). */
export function failuresByName(pairs: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const errno = pairs[i] ?? 0;
    const name = errno === 0 ? 'ABORTED' : errnoName(errno);
    out[name] = (out[name] ?? 0) + (pairs[i + 1] ?? 0);
  }
  return out;
}
