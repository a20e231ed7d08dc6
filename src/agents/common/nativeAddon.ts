/**
 * What every native engine of dist/native/ shares on the JS side: loading an addon once per thread, the opaque
 * engine handle, and turning the engine's HdrHistogram-compatible buckets into the agents' usual histograms. The
 * engines bucket latencies exactly as hdr-histogram-js does for 1 µs .. 10 min at 3 significant digits, so a
 * bucket's lowest value recorded with the bucket's count gives the histogram the JS paths would have built.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { createHistogram, encodeHistogram, type Histogram } from '../../histogram.js';

/** An opaque engine handle (a Node-API external). */
export type NativeEngine = { readonly __nativeEngine: unique symbol };

/** Flat [key, count, key, count, ...] lists of the non-zero entries. */
export interface NativeCollected {
  failures: number[];
  latency: number[];
  failure: number[];
}

/**
 * An addon of dist/native/ if it was built, loads on this Node and has every function of `functions`, else null.
 * (Both native engines are loaded this way; each is loaded once per thread by its own module.)
 */
export function loadNativeAddon<T>(file: string, functions: readonly string[]): T | null {
  if (!existsSync(file)) return null;
  try {
    const m = createRequire(import.meta.url)(file) as Record<string, unknown>;
    const missing = functions.filter((f) => typeof m[f] !== 'function');
    if (missing.length === 0) return m as T;
    loadErrors.set(file, `lacks ${missing.join(', ')}`);
  } catch (err) {
    // A build for another architecture or libc (a package installed where its shipped engines do not fit).
    loadErrors.set(file, (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '');
  }
  return null;
}

const loadErrors = new Map<string, string>();

/** Why an addon is absent, for a one-line note. */
export function nativeAddonMissing(file: string): string {
  if (!existsSync(file)) return `${file} was not built (npm run build needs make and a C compiler)`;
  const why = loadErrors.get(file);
  return `${file} does not load on Node ${process.version} (${process.platform}-${process.arch})${why ? `: ${why}` : ''}`;
}

/** An addon loaded on first use: the module (null when it was not built or does not load) and why it is missing. */
export interface LazyAddon<T> {
  module(): T | null;
  /** Why the addon is absent, for a one-line note; null when it is there. */
  missing(): string | null;
}

export function lazyAddon<T>(file: string, functions: readonly string[]): LazyAddon<T> {
  let loaded: T | null | undefined;
  const module = (): T | null => {
    if (loaded === undefined) loaded = loadNativeAddon<T>(file, functions);
    return loaded;
  };
  return { module, missing: () => (module() ? null : nativeAddonMissing(file)) };
}

const HALF_MAGNITUDE = 10;
const HALF_COUNT = 1 << HALF_MAGNITUDE;

/** The lowest value of HdrHistogram counts index `index` (lowest discernible value 1, 3 significant digits). */
export function valueAtIndex(index: number): number {
  let bucket = (index >> HALF_MAGNITUDE) - 1;
  let sub = (index & (HALF_COUNT - 1)) + HALF_COUNT;
  if (bucket < 0) {
    sub -= HALF_COUNT;
    bucket = 0;
  }
  return sub * 2 ** bucket;
}

/** HdrHistogram counts index of `value` (the engine's counts_index, for tests). */
export function indexOfValue(value: number): number {
  const v = Math.max(1, Math.round(value));
  const bits = Math.max(Math.floor(Math.log2(v)) + 1, 11);
  const bucket = bits - (HALF_MAGNITUDE + 1);
  const sub = Math.floor(v / 2 ** bucket);
  return ((bucket + 1) << HALF_MAGNITUDE) + (sub - HALF_COUNT);
}

/** Add the engine's [index, count, ...] list to a histogram. */
export function addBuckets(h: Histogram, pairs: readonly number[]): void {
  for (let i = 0; i + 1 < pairs.length; i += 2) h.recordValueWithCount(valueAtIndex(pairs[i] ?? 0), pairs[i + 1] ?? 0);
}

/** What an engine collected as a worker reports it: encoded histograms (empty without an engine) and named failures. */
export function encodeCollected(
  got: NativeCollected | null, name: (failures: readonly number[]) => Record<string, number>,
): { histogram: string; failureHistogram: string; failures: Record<string, number> } {
  const hist = createHistogram();
  const failHist = createHistogram();
  addBuckets(hist, got?.latency ?? []);
  addBuckets(failHist, got?.failure ?? []);
  const out = { histogram: encodeHistogram(hist), failureHistogram: encodeHistogram(failHist), failures: name(got?.failures ?? []) };
  hist.destroy();
  failHist.destroy();
  return out;
}


/** An engine's live counts from its shared array: each count in the slot of its name in capitals (`attempts` in ATTEMPTS). */
export function readCounts<K extends string>(shared: Int32Array, slots: Readonly<Record<Uppercase<K>, number>>, keys: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = Atomics.load(shared, slots[k.toUpperCase() as Uppercase<K>]);
  return out;
}
