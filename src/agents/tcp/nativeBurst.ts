/**
 * The native burst engine (src/native/burstEngine.c, built by `npm run build` into dist/native/): loading it,
 * checking a burst config, and turning what it kept into the result every TCP client agent reports
 * (the same buckets as the connect engine, so the histograms and failure names come out the same way).
 */
import { fileURLToPath } from 'node:url';
import { encodeCollected, lazyAddon, type NativeCollected, type NativeEngine } from '../common/nativeAddon.js';
import { failuresByName } from './nativeConnect.js';
import type { BurstFigures, TcpBurstConfig } from '../common/protocol.js';

/** The addon as `require` returns it. */
export interface NativeBurstModule {
  /** Returns once every thread is in its namespace and pinned; throws with the reason otherwise. */
  start(
    host: string, port: number, netnsPaths: string[], cpus: number[], rounds: number, durationMs: number, connectTimeoutMs: number,
    portLo: number, portHi: number, inFlightRounds: number, shared: Int32Array,
  ): NativeEngine;
  finished(engine: NativeEngine): boolean;
  collect(engine: NativeEngine): BurstCollected;
  bucketIndex(microseconds: number): number;
}

export interface BurstCollected extends NativeCollected {
  rounds: number;
  skippedRounds: number;
  /** One per client thread, in netnsPaths' order. */
  clients: { cpu: number; attempts: number; succeeded: number; failed: number; stalls: number }[];
}

/** Slots of the engine's shared Int32Array (burstEngine.c's S_* names). */
export const BURST_SHARED = { ATTEMPTS: 0, SUCCEEDED: 1, FAILED: 2, STALLS: 3, STOP: 4, ROUNDS: 5, SKIPPED: 6, STARTUP: 7, LENGTH: 8 } as const;

export const NATIVE_BURST_FILE = fileURLToPath(new URL('../../native/burst_engine.node', import.meta.url));

/**
 * What a burst load needs to answer "is this rule vulnerable" in seconds on a 2-core host (measured on 6.18):
 * two clients on two CPUs (more threads than CPUs wait for each other at every round); 10 000 attempts give
 * about 1 500 race drops without a flag in 1-3 s. --random-fully is not immune to a burst: two concurrent SYNs
 * may draw the same free port (about 1 in 64 512 racing pairs; measured 1 race drop in 200 000 attempts), so
 * fewer attempts keep a run's chance of seeing one low (~5 %). Source ports below the default ephemeral ranges
 * (40000-40199, 32768-60999); 2048 rounds in flight per thread hold a second of the losers' retransmits.
 */
export const BURST_DEFAULTS = {
  clients: 2,
  connections: 10_000,
  durationMs: 8_000,
  connectTimeoutMs: 8_000,
  burstPorts: [10_000, 32_767] as [number, number],
  inFlightRounds: 2_048,
} as const;

/** The engine's limits (burstEngine.c MAX_CLIENTS, MAX_IN_FLIGHT). */
export const BURST_LIMITS = { clients: 64, inFlightRounds: 16_384 } as const;

const engine = lazyAddon<NativeBurstModule>(NATIVE_BURST_FILE, ['start', 'finished', 'collect', 'bucketIndex']);
/** The engine if it was built and loads on this Node, else null (the burst load has no fallback). */
export const nativeBurstModule = engine.module;
/** Why the engine is absent, for a one-line note; null when it is there. */
export const nativeBurstMissing = engine.missing;

/** Rounds of one connect per client that `connections` attempts in all allow (at least one). */
export function burstRounds(connections: number, clients: number): number {
  return Math.max(1, Math.floor(connections / clients));
}

/** Whether two inclusive port ranges share a port. */
export function portRangesOverlap(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] <= b[1] && b[0] <= a[1];
}

const whole = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** What is wrong with a burst config, one line each; empty when it can run. */
export function burstConfigProblems(cfg: TcpBurstConfig): string[] {
  const out: string[] = [];
  const paths = Array.isArray(cfg.netnsPaths) ? cfg.netnsPaths : [];
  if (paths.length < 1 || paths.length > BURST_LIMITS.clients) out.push(`netnsPaths: 1 to ${BURST_LIMITS.clients} client namespaces, got ${paths.length}`);
  if (paths.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 255)) out.push('netnsPaths: every entry must be a path of 1 to 255 characters');
  if (!whole(cfg.port, 1, 65_535)) out.push(`port: 1 to 65535, got ${String(cfg.port)}`);
  if (!whole(cfg.connections, 1, 2 ** 31 - 1)) out.push(`connections: a whole number >= 1, got ${String(cfg.connections)}`);
  if (!(cfg.durationMs > 0)) out.push(`durationMs must be > 0, got ${String(cfg.durationMs)}`);
  if (!(cfg.connectTimeoutMs > 0)) out.push(`connectTimeoutMs must be > 0, got ${String(cfg.connectTimeoutMs)}`);
  if (!whole(cfg.inFlightRounds, 1, BURST_LIMITS.inFlightRounds)) out.push(`inFlightRounds: 1 to ${BURST_LIMITS.inFlightRounds}, got ${String(cfg.inFlightRounds)}`);
  const [lo, hi] = Array.isArray(cfg.burstPorts) ? cfg.burstPorts : [NaN, NaN];
  if (!whole(lo, 1024, 65_535) || !whole(hi, 1024, 65_535) || lo > hi) {
    out.push(`burstPorts: [LO, HI] with 1024 <= LO <= HI <= 65535, got ${JSON.stringify(cfg.burstPorts)}`);
  } else {
    if (whole(cfg.port, 1, 65_535) && cfg.port >= lo && cfg.port <= hi) out.push(`burstPorts ${lo}-${hi} hold the server port ${cfg.port}`);
    // Every thread may hold inFlightRounds ports at once; the range must leave ports free for the next round.
    if (whole(cfg.inFlightRounds, 1, BURST_LIMITS.inFlightRounds) && hi - lo + 1 <= paths.length * cfg.inFlightRounds) {
      out.push(`burstPorts ${lo}-${hi} hold ${hi - lo + 1} ports, not more than the ${paths.length} x ${cfg.inFlightRounds} a full window may hold`);
    }
  }
  if (cfg.cpus !== undefined && (!Array.isArray(cfg.cpus) || cfg.cpus.some((c) => !whole(c, 0, 1023)))) out.push('cpus: CPU numbers 0 to 1023');
  return out;
}

/** The result's own part of what the engine kept: histograms, failures by name and the burst figures. */
export function burstOutcome(
  got: BurstCollected, netnsPaths: readonly string[],
): { histogram: string; failureHistogram: string; failures: Record<string, number>; burst: BurstFigures } {
  return {
    ...encodeCollected(got, failuresByName),
    burst: {
      rounds: got.rounds,
      skippedRounds: got.skippedRounds,
      clients: got.clients.map((c, i) => ({ netnsPath: netnsPaths[i] ?? '', ...c })),
    },
  };
}
