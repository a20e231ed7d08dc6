/**
 * One HTTP request loop (`tcp-syn --protocol http`): keeps `concurrency` GET requests in flight through an
 * undici Pool until its quota or the duration is used up. Without keep-alive every request asks
 * `Connection: close` (undici's `reset`), so each one opens a fresh TCP connection, the pattern that exposes the
 * SNAT race; with keep-alive the pool's connections are reused and only a few connects happen.
 *
 * Two histograms per worker, in microseconds: the TCP connect time of every connection opened, and the whole
 * request time (dispatch to the last body byte; it includes the connect when the request opened one).
 * The connect time is taken around undici's connector: from the connector call (net.connect) to its callback,
 * which undici's connector calls from the socket's 'connect' event, the same span raw TCP mode measures; the
 * wrapper's closure pairs each connect with its own start, however many are in flight.
 */
import type net from 'node:net';
import { setMaxListeners } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Pool, buildConnector } from 'undici';
import { createHistogram, encodeHistogram, recordMicros } from '../../histogram.js';
import { attemptRecord } from '../common/attempts.js';
import { runLoopFrame } from '../common/loopFrame.js';
import { STALL_MS, type ConnectCounts, type Counts, type WorkerMessage, type WorkerStart } from './loadWorker.js';
import { httpFailureKind, httpStatusKind } from './httpFailure.js';

/**
 * `--close rst`: make every later destroy of this socket (undici's close after the response, or on an error)
 * send an RST instead of a FIN, so the client keeps no TIME_WAIT and a narrow port range is reused at once, as in
 * raw TCP mode. `resetAndClosing` is the flag Node's own `resetAndDestroy()` sets before `destroy()`; setting it
 * and keeping undici's `destroy(err)` call keeps the error undici passes (a headers timeout stays one).
 */
function closeWithReset(socket: net.Socket): void {
  const destroy = socket.destroy.bind(socket);
  socket.destroy = ((err?: Error) => {
    if (!socket.destroyed && !socket.connecting) (socket as net.Socket & { resetAndClosing?: boolean }).resetAndClosing = true;
    return destroy(err);
  }) as typeof socket.destroy;
}

if (parentPort) {
  const port = parentPort;
  const cfg = workerData as WorkerStart;
  // The record's successes are the connects the requests opened; its failures are the requests'.
  const record = attemptRecord();
  const requestHist = createHistogram();
  const counts: Counts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0 };
  const connects: ConnectCounts = { attempted: 0, succeeded: 0, failed: 0 };
  const stop = new AbortController();
  setMaxListeners(cfg.concurrency + 16, stop.signal);
  let inflight = 0;

  const connectOnce = buildConnector({ timeout: cfg.connectTimeoutMs });
  const timedConnect: buildConnector.connector = (options, callback) => {
    connects.attempted++;
    const t0 = performance.now();
    connectOnce(options, (...args) => {
      const us = (performance.now() - t0) * 1000;
      if (args[0] === null) {
        connects.succeeded++;
        record.ok(us / 1000);
        if (cfg.close === 'rst') closeWithReset(args[1]);
      } else {
        connects.failed++;
      }
      callback(...args);
    });
  };

  const pool = new Pool(`http://${cfg.host}:${cfg.port}`, {
    connect: timedConnect,
    connections: cfg.concurrency,
    pipelining: 1,
    // The response must come within the connect timeout once the request is written; both bound every request.
    headersTimeout: cfg.connectTimeoutMs,
    bodyTimeout: cfg.connectTimeoutMs,
  });

  const fail = (t0: number, kind: string): void => {
    counts.failed++;
    record.fail(kind, performance.now() - t0);
  };

  const launch = (): void => {
    counts.attempts++;
    inflight++;
    const t0 = performance.now();
    pool
      .request({ path: '/', method: 'GET', reset: !cfg.keepalive, signal: stop.signal })
      .then(async (res) => {
        await res.body.text();
        const ms = performance.now() - t0;
        if (res.statusCode !== 200) return fail(t0, httpStatusKind(res.statusCode));
        recordMicros(requestHist, ms * 1000);
        counts.succeeded++;
        if (ms >= STALL_MS) counts.stalls++;
      })
      .catch((err: unknown) => fail(t0, httpFailureKind(err)))
      .finally(() => {
        inflight--;
        loop.next();
      });
  };

  const loop = runLoopFrame(port, cfg, counts, {
    launch,
    inflight: () => inflight,
    stop: () => stop.abort(),
    done: async () => {
      await pool.destroy().catch(() => undefined);
      return { kind: 'done', ...counts, ...record.encoded(), http: { requestHistogram: encodeHistogram(requestHist), connects } } satisfies WorkerMessage;
    },
    progress: () => ({ kind: 'progress', ...counts }) satisfies WorkerMessage,
    ready: { kind: 'ready' } satisfies WorkerMessage,
  });
}
