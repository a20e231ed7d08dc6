/**
 * TCP client agent: a connect storm from worker_threads (so every CPU sends at once).
 * Each worker keeps `concurrency` connects in flight and records each attempt's connect latency;
 * with `protocol: 'http'` the workers make HTTP requests instead and also record each request's latency.
 * Workers' histograms travel encoded and are merged here; the merged result is one NDJSON line.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { configFromArgv, emit, type TcpClientConfig } from '../common/protocol.js';
import { createHistogram, decodeHistogram, encodeHistogram } from '../../histogram.js';
import type { ConnectCounts, WorkerMessage, WorkerStart } from './loadWorker.js';
import type { ConnectPath } from './connector.js';
import { nativeConnectMissing, nativeConnectModule } from './nativeConnect.js';
import { runFields, runLoadPrimary } from '../common/loadPrimary.js';

const cfg = configFromArgv<TcpClientConfig>();
const wanted = cfg.connectPath ?? 'auto';
if (cfg.protocol !== 'http' && wanted === 'native' && !nativeConnectModule()) {
  emit({ type: 'error', message: `connect path "native" asked for, but ${nativeConnectMissing() ?? 'the engine is missing'}` });
  process.exit(1);
}
// Raw connects: the native engine when it was built (auto), else the JS loop on libuv handles or net.Socket.
const useEngine = cfg.protocol !== 'http' && (wanted === 'native' || (wanted === 'auto' && nativeConnectModule() !== null));
const workerScript = cfg.protocol === 'http' ? './httpRequestWorker.js' : useEngine ? './engineWorker.js' : './connectWorker.js';
const workerPath = fileURLToPath(new URL(workerScript, import.meta.url));

interface WorkerState {
  attempts: number;
  succeeded: number;
  failed: number;
  stalls: number;
}

const total = createHistogram();
const failureTotal = createHistogram();
const failures: Record<string, number> = {};
const requestTotal = createHistogram();
const connects: ConnectCounts = { attempted: 0, succeeded: 0, failed: 0 };
const connectPaths = new Set<ConnectPath>();

const perWorker = (i: number): number =>
  Math.floor(cfg.connections / cfg.workers) + (i < cfg.connections % cfg.workers ? 1 : 0);

const states: WorkerState[] = [];
const workers = Array.from({ length: cfg.workers }, (_, i) => {
  const start: WorkerStart = {
    host: cfg.host,
    port: cfg.port,
    concurrency: cfg.concurrency,
    quota: perWorker(i),
    durationMs: cfg.durationMs,
    connectTimeoutMs: cfg.connectTimeoutMs,
    close: cfg.close,
    progressIntervalMs: cfg.progressIntervalMs,
    keepalive: cfg.keepalive ?? false,
    connectPath: cfg.connectPath ?? 'auto',
  };
  states.push({ attempts: 0, succeeded: 0, failed: 0, stalls: 0 });
  return new Worker(workerPath, { workerData: start });
});

function sums(): WorkerState {
  return states.reduce(
    (a, s) => ({ attempts: a.attempts + s.attempts, succeeded: a.succeeded + s.succeeded, failed: a.failed + s.failed, stalls: a.stalls + s.stalls }),
    { attempts: 0, succeeded: 0, failed: 0, stalls: 0 },
  );
}

const primary = runLoadPrimary({
  role: 'tcp-client',
  workers,
  progressIntervalMs: cfg.progressIntervalMs,
  progress: sums,
  result: (run) => {
    const s = sums();
    return {
      type: 'result',
      attempts: s.attempts,
      succeeded: s.succeeded,
      failed: s.failed,
      failures,
      histogram: encodeHistogram(total),
      failureHistogram: encodeHistogram(failureTotal),
      ...(cfg.protocol === 'http' ? { http: { requestHistogram: encodeHistogram(requestTotal), connects } } : {}),
      ...runFields(run),
      // Every worker takes the same path (one Node, one config); should they differ, the slowest one is named.
      ...(connectPaths.size > 0 ? { connectPath: (['socket', 'handle', 'native'] as const).find((p) => connectPaths.has(p)) } : {}),
    };
  },
});

workers.forEach((worker, i) => {
  const st = states[i] as WorkerState;
  worker.on('message', (m: WorkerMessage) => {
    if (m.kind === 'ready') return primary.workerReady();
    st.attempts = m.attempts;
    st.succeeded = m.succeeded;
    st.failed = m.failed;
    st.stalls = m.stalls;
    if (m.kind === 'done') {
      const h = decodeHistogram(m.histogram);
      total.add(h);
      const f = decodeHistogram(m.failureHistogram);
      failureTotal.add(f);
      for (const [k, v] of Object.entries(m.failures)) failures[k] = (failures[k] ?? 0) + v;
      if (m.connectPath) connectPaths.add(m.connectPath);
      if (m.http) {
        const r = decodeHistogram(m.http.requestHistogram);
        requestTotal.add(r);
        r.destroy();
        connects.attempted += m.http.connects.attempted;
        connects.succeeded += m.http.connects.succeeded;
        connects.failed += m.http.connects.failed;
      }
      primary.workerDone(i);
    }
  });
  worker.on('error', (err) => {
    emit({ type: 'error', message: `client worker: ${err.message}` });
    primary.workerDone(i);
  });
});
