/**
 * One connect loop on the native engine (nativeConnect.ts): the engine's own thread keeps `concurrency` connects
 * in flight until the quota, the duration or a stop; this worker relays its live counts as progress, and at the
 * end turns its buckets into the same histograms and failure counts the JS loop (tcpConnectWorker.ts) reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeCollected, failuresByName, nativeConnectMissing, nativeConnectModule, SHARED, type NativeEngine } from './nativeConnect.js';
import type { Counts, WorkerMessage, WorkerStart } from './loadWorker.js';

const FINISH_POLL_MS = 20;

if (parentPort) {
  const port = parentPort;
  const cfg = workerData as WorkerStart;
  const engines = nativeConnectModule();
  if (!engines) throw new Error(`native connect engine unavailable: ${nativeConnectMissing() ?? 'unknown reason'}`);
  const shared = new Int32Array(new SharedArrayBuffer(SHARED.LENGTH * Int32Array.BYTES_PER_ELEMENT));
  const counts: Counts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0 };
  let engine: NativeEngine | null = null;
  let poll: NodeJS.Timeout | undefined;
  let done = false;

  const read = (): void => {
    counts.attempts = Atomics.load(shared, SHARED.ATTEMPTS);
    counts.succeeded = Atomics.load(shared, SHARED.SUCCEEDED);
    counts.failed = Atomics.load(shared, SHARED.FAILED);
    counts.stalls = Atomics.load(shared, SHARED.STALLS);
  };
  const progress = setInterval(() => {
    read();
    port.postMessage({ kind: 'progress', ...counts } satisfies WorkerMessage);
  }, cfg.progressIntervalMs);

  const finish = (): void => {
    if (done) return;
    done = true;
    clearInterval(progress);
    clearInterval(poll);
    read();
    const encoded = encodeCollected(engine ? engines.collect(engine) : null, failuresByName);
    port.postMessage({ kind: 'done', ...counts, ...encoded, connectPath: 'native' } satisfies WorkerMessage);
    port.close();
  };

  port.on('message', (m: { kind: string }) => {
    if (m.kind === 'start' && !engine && !done) {
      engine = engines.start(cfg.host, cfg.port, cfg.concurrency, cfg.quota, cfg.durationMs, cfg.connectTimeoutMs, cfg.close === 'rst', shared);
      const running = engine;
      poll = setInterval(() => {
        if (engines.finished(running)) finish();
      }, FINISH_POLL_MS);
    } else if (m.kind === 'stop') {
      Atomics.store(shared, SHARED.STOP, 1);
      if (!engine) finish();
    }
  });
  port.postMessage({ kind: 'ready' } satisfies WorkerMessage);
}
