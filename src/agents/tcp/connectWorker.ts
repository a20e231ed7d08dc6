/**
 * One connect loop: keeps `concurrency` connects in flight until its quota or the duration is used up.
 * Latency is measured from connect() to its completion, in microseconds. A sweep ends attempts
 * older than the connect timeout (counted as ETIMEDOUT); other failures are counted by error code.
 * Connects go through the cheapest path this Node has (tcpConnector.ts); the result names it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createHistogram, encodeHistogram, recordMicros } from '../../histogram.js';
import { createConnector, type PendingConnect } from './connector.js';
import { STALL_MS, driveWorker, type Counts, type WorkerMessage, type WorkerStart } from './loadWorker.js';

if (parentPort) {
  const port = parentPort;
  const cfg = workerData as WorkerStart;
  const prefer = cfg.connectPath === 'native' ? 'auto' : (cfg.connectPath ?? 'auto');
  const connector = createConnector({ host: cfg.host, port: cfg.port, close: cfg.close }, prefer);
  const hist = createHistogram();
  const failHist = createHistogram();
  const failures: Record<string, number> = {};
  const counts: Counts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0 };
  const inflight = new Map<PendingConnect, number>();
  let stopping = false;
  let deadline = Infinity;
  let done = false;

  const finish = (): void => {
    if (done) return;
    done = true;
    clearInterval(sweep);
    clearInterval(progress);
    port.postMessage({
      kind: 'done', ...counts, failures, histogram: encodeHistogram(hist), failureHistogram: encodeHistogram(failHist), connectPath: connector.path,
    } satisfies WorkerMessage);
    port.close();
  };

  const failed = (t0: number, code: string): void => {
    counts.failed++;
    failures[code] = (failures[code] ?? 0) + 1;
    recordMicros(failHist, (performance.now() - t0) * 1000);
  };

  const launch = (): void => {
    counts.attempts++;
    const t0 = performance.now();
    const pending = connector.open((error) => {
      inflight.delete(pending);
      if (error === null) {
        const ms = performance.now() - t0;
        recordMicros(hist, ms * 1000);
        counts.succeeded++;
        if (ms >= STALL_MS) counts.stalls++;
      } else {
        failed(t0, error);
      }
      next();
    });
    inflight.set(pending, t0);
  };

  const next = (): void => {
    if (!stopping && counts.attempts < cfg.quota && performance.now() < deadline) {
      launch();
    } else if (inflight.size === 0) {
      finish();
    }
  };

  /** End an attempt from outside (timeout, stop); its callback will not run. */
  const giveUp = (pending: PendingConnect, t0: number, code: string): void => {
    inflight.delete(pending);
    pending.abort();
    failed(t0, code);
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    let ended = 0;
    for (const [pending, t0] of inflight) {
      if (now - t0 >= cfg.connectTimeoutMs) {
        giveUp(pending, t0, 'ETIMEDOUT');
        ended++;
      }
    }
    for (let i = 0; i < ended; i++) next();
  }, 100);
  const progress = driveWorker(port, cfg, counts, {
    begin: (at) => (deadline = at),
    launch,
    finish,
    stop: () => {
      stopping = true;
      for (const [pending, t0] of inflight) giveUp(pending, t0, 'ABORTED');
      if (inflight.size === 0) finish();
    },
  });
}
