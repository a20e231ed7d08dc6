/**
 * One connect loop on the native engine (nativeConnect.ts): the engine's own thread keeps `concurrency` connects
 * in flight until the quota, the duration or a stop; this worker relays its live counts as progress, and at the
 * end turns its buckets into the same histograms and failure counts the JS loop (tcpConnectWorker.ts) reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeCollected, readCounts } from '../common/nativeAddon.js';
import { failuresByName, nativeConnectMissing, nativeConnectModule, SHARED } from './nativeConnect.js';
import { runEngineWorker } from '../common/engineWorker.js';
import type { Counts, WorkerMessage, WorkerStart } from './loadWorker.js';

if (parentPort) {
  const cfg = workerData as WorkerStart;
  const engines = nativeConnectModule();
  if (!engines) throw new Error(`native connect engine unavailable: ${nativeConnectMissing() ?? 'unknown reason'}`);
  runEngineWorker<Counts>(parentPort, {
    sharedLength: SHARED.LENGTH,
    stopSlot: SHARED.STOP,
    progressIntervalMs: cfg.progressIntervalMs,
    read: (shared) => readCounts(shared, SHARED, ['attempts', 'succeeded', 'failed', 'stalls']),
    start: (shared) => engines.start(cfg.host, cfg.port, cfg.concurrency, cfg.quota, cfg.durationMs, cfg.connectTimeoutMs, cfg.close === 'rst', shared),
    finished: (engine) => engines.finished(engine),
    progress: (counts) => ({ kind: 'progress', ...counts }) satisfies WorkerMessage,
    done: (counts, engine) =>
      ({ kind: 'done', ...counts, ...encodeCollected(engine ? engines.collect(engine) : null, failuresByName), connectPath: 'native' }) satisfies WorkerMessage,
    ready: { kind: 'ready' } satisfies WorkerMessage,
  });
}
