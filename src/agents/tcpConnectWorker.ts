/**
 * One connect loop: keeps `concurrency` connects in flight until its quota or the duration is used up.
 * Latency is measured from connect() to the 'connect' event, in microseconds. A sweep ends attempts
 * older than the connect timeout (counted as ETIMEDOUT); other failures are counted by error code.
 */
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createHistogram, encodeHistogram, recordMicros } from '../histogram.js';
import { STALL_MS, driveWorker, type Counts, type WorkerMessage, type WorkerStart } from './loadWorker.js';

if (parentPort) {
  const port = parentPort;
  const cfg = workerData as WorkerStart;
  const hist = createHistogram();
  const failHist = createHistogram();
  const failures: Record<string, number> = {};
  const counts: Counts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0 };
  const inflight = new Map<net.Socket, number>();
  let stopping = false;
  let deadline = Infinity;
  let done = false;

  const finish = (): void => {
    if (done) return;
    done = true;
    clearInterval(sweep);
    clearInterval(progress);
    port.postMessage({ kind: 'done', ...counts, failures, histogram: encodeHistogram(hist), failureHistogram: encodeHistogram(failHist) } satisfies WorkerMessage);
    port.close();
  };

  const fail = (sock: net.Socket, t0: number, code: string): void => {
    if (!inflight.delete(sock)) return;
    counts.failed++;
    failures[code] = (failures[code] ?? 0) + 1;
    recordMicros(failHist, (performance.now() - t0) * 1000);
    sock.destroy();
    next();
  };

  const launch = (): void => {
    counts.attempts++;
    const t0 = performance.now();
    const sock = net.connect({ host: cfg.host, port: cfg.port });
    inflight.set(sock, t0);
    sock.once('connect', () => {
      if (!inflight.delete(sock)) return;
      const ms = performance.now() - t0;
      recordMicros(hist, ms * 1000);
      counts.succeeded++;
      if (ms >= STALL_MS) counts.stalls++;
      if (cfg.close === 'rst') sock.resetAndDestroy();
      else sock.destroy();
      next();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => fail(sock, t0, err.code ?? 'ERROR'));
  };

  const next = (): void => {
    if (!stopping && counts.attempts < cfg.quota && performance.now() < deadline) {
      launch();
    } else if (inflight.size === 0) {
      finish();
    }
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [sock, t0] of inflight) {
      if (now - t0 >= cfg.connectTimeoutMs) fail(sock, t0, 'ETIMEDOUT');
    }
  }, 100);
  const progress = driveWorker(port, cfg, counts, {
    begin: (at) => (deadline = at),
    launch,
    finish,
    stop: () => {
      stopping = true;
      for (const [sock, t0] of inflight) fail(sock, t0, 'ABORTED');
      if (inflight.size === 0) finish();
    },
  });
}
