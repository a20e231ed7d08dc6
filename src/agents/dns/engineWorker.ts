/**
 * Raw lookups on the native engine (nativeDns.ts): the engine's own thread keeps `concurrency` lookups in flight
 * until the quota, the duration or a stop, each as dnsRawWorker.ts makes it (fresh connected socket, A and AAAA
 * back to back, glibc's tries); this worker speaks the loop protocol of agents/dns/workerLoop.ts (ready, progress,
 * done), relaying the engine's live counts and, at the end, its buckets as the same histograms.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalName } from './packets.js';
import { encodeName } from './wire.js';
import { tryTimeoutMs } from './glibcResolver.js';
import { encodeCollected, readCounts } from '../common/nativeAddon.js';
import { DNS_SHARED, dnsFailuresByName, nativeDnsMissing, nativeDnsModule } from './nativeDns.js';
import { runEngineWorker } from '../common/engineWorker.js';
import type { LoopCounts, LoopMessage } from './workerLoop.js';
import type { DnsWorkerStart } from './protocol.js';

if (parentPort) {
  const cfg = workerData as DnsWorkerStart;
  const engines = nativeDnsModule();
  if (!engines) throw new Error(`native DNS engine unavailable: ${nativeDnsMissing() ?? 'unknown reason'}`);
  const { loop } = cfg;
  runEngineWorker<LoopCounts>(parentPort, {
    sharedLength: DNS_SHARED.LENGTH,
    stopSlot: DNS_SHARED.STOP,
    progressIntervalMs: loop.progressIntervalMs,
    // The engine's live counts (partial stays 0: a raw lookup succeeds with both answers or fails).
    read: (shared) => ({ ...readCounts(shared, DNS_SHARED, ['attempts', 'succeeded', 'failed', 'stalls', 'queries', 'retries']), partial: 0 }),
    start: (shared) =>
      engines.start(
        cfg.server, cfg.port, encodeName(canonicalName(cfg.zone)), cfg.nameOffset, loop.concurrency, loop.quota, loop.durationMs,
        tryTimeoutMs(cfg.timeoutMs), cfg.attempts, loop.stallMs, shared,
      ),
    finished: (engine) => engines.finished(engine),
    progress: (counts) => ({ kind: 'progress', ...counts }) satisfies LoopMessage,
    done: (counts, engine) =>
      ({ kind: 'done', ...counts, ...encodeCollected(engine ? engines.collect(engine) : null, (pairs) => dnsFailuresByName(pairs, engines.RCODE_KEY)) }) satisfies LoopMessage,
    ready: { kind: 'ready', socketPath: 'native' } satisfies LoopMessage,
  });
}
