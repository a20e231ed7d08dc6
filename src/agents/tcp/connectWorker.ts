/**
 * One connect loop: keeps `concurrency` connects in flight until its quota or the duration is used up.
 * Latency is measured from connect() to its completion, in microseconds. A sweep ends attempts
 * older than the connect timeout (counted as ETIMEDOUT); other failures are counted by error code.
 * Connects go through the cheapest path this Node has (tcpConnector.ts); the result names it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { attemptRecord } from '../common/attempts.js';
import { createConnector, type PendingConnect } from './connector.js';
import { STALL_MS, type Counts, type WorkerMessage, type WorkerStart } from './loadWorker.js';
import { runLoopFrame } from '../common/loopFrame.js';

if (parentPort) {
  const port = parentPort;
  const cfg = workerData as WorkerStart;
  const prefer = cfg.connectPath === 'native' ? 'auto' : (cfg.connectPath ?? 'auto');
  const connector = createConnector({ host: cfg.host, port: cfg.port, close: cfg.close }, prefer);
  const record = attemptRecord();
  const counts: Counts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0 };
  const inflight = new Map<PendingConnect, number>();

  const failed = (t0: number, code: string): void => {
    counts.failed++;
    record.fail(code, performance.now() - t0);
  };

  const launch = (): void => {
    counts.attempts++;
    const t0 = performance.now();
    const pending = connector.open((error) => {
      inflight.delete(pending);
      if (error === null) {
        const ms = performance.now() - t0;
        record.ok(ms);
        counts.succeeded++;
        if (ms >= STALL_MS) counts.stalls++;
      } else {
        failed(t0, error);
      }
      loop.next();
    });
    inflight.set(pending, t0);
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
    for (let i = 0; i < ended; i++) loop.next();
  }, 100);
  const loop = runLoopFrame(port, cfg, counts, {
    launch,
    inflight: () => inflight.size,
    stop: () => {
      for (const [pending, t0] of inflight) giveUp(pending, t0, 'ABORTED');
    },
    done: () => {
      clearInterval(sweep);
      return { kind: 'done', ...counts, ...record.encoded(), connectPath: connector.path } satisfies WorkerMessage;
    },
    progress: () => ({ kind: 'progress', ...counts }) satisfies WorkerMessage,
    ready: { kind: 'ready' } satisfies WorkerMessage,
  });
}
