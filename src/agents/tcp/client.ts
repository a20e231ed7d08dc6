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
import { ownResources, type AgentResources } from '../common/resources.js';
import { nativeConnectMissing, nativeConnectModule } from './nativeConnect.js';
import { onLoadOrders } from '../common/runnerOrders.js';

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
  worker: Worker;
  attempts: number;
  succeeded: number;
  failed: number;
  stalls: number;
  done: boolean;
}

const states: WorkerState[] = [];
const total = createHistogram();
const failureTotal = createHistogram();
const failures: Record<string, number> = {};
const requestTotal = createHistogram();
const connects: ConnectCounts = { attempted: 0, succeeded: 0, failed: 0 };
let started = 0;
let workersReady = 0;
let atStart: AgentResources | null = null;
const connectPaths = new Set<ConnectPath>();
let aborted = false;
let finished = false;

function sums(): { attempts: number; succeeded: number; failed: number; stalls: number } {
  return states.reduce(
    (a, s) => ({ attempts: a.attempts + s.attempts, succeeded: a.succeeded + s.succeeded, failed: a.failed + s.failed, stalls: a.stalls + s.stalls }),
    { attempts: 0, succeeded: 0, failed: 0, stalls: 0 },
  );
}

function maybeFinish(): void {
  if (finished || !states.every((s) => s.done)) return;
  finished = true;
  clearInterval(progressTimer);
  const s = sums();
  emit({
    type: 'result',
    attempts: s.attempts,
    succeeded: s.succeeded,
    failed: s.failed,
    failures,
    histogram: encodeHistogram(total),
    failureHistogram: encodeHistogram(failureTotal),
    ...(cfg.protocol === 'http' ? { http: { requestHistogram: encodeHistogram(requestTotal), connects } } : {}),
    elapsedMs: started ? Date.now() - started : 0,
    aborted,
    // Every worker takes the same path (one Node, one config); should they differ, the slowest one is named.
    ...(connectPaths.size > 0 ? { connectPath: (['socket', 'handle', 'native'] as const).find((p) => connectPaths.has(p)) } : {}),
    resources: ownResources(),
    ...(atStart ? { resourcesAtStart: atStart } : {}),
  });
  process.exit(0);
}

const perWorker = (i: number): number =>
  Math.floor(cfg.connections / cfg.workers) + (i < cfg.connections % cfg.workers ? 1 : 0);

for (let i = 0; i < cfg.workers; i++) {
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
  const worker = new Worker(workerPath, { workerData: start });
  const st: WorkerState = { worker, attempts: 0, succeeded: 0, failed: 0, stalls: 0, done: false };
  states.push(st);
  worker.on('message', (m: WorkerMessage) => {
    if (m.kind === 'ready') {
      // The agent is ready when every worker is: the runner's 'start' then releases the load at once, and
      // elapsedMs no longer counts the workers' start-up.
      if (++workersReady === cfg.workers) emit({ type: 'ready', role: 'tcp-client', pid: process.pid });
      return;
    }
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
      st.done = true;
      maybeFinish();
    }
  });
  worker.on('error', (err) => {
    emit({ type: 'error', message: `client worker: ${err.message}` });
    st.done = true;
    maybeFinish();
  });
}

const progressTimer = setInterval(() => {
  if (started) emit({ type: 'progress', ...sums() });
}, cfg.progressIntervalMs);

const abort = (): void => {
  if (aborted || finished) return;
  aborted = true;
  for (const s of states) s.worker.postMessage({ kind: 'stop' });
  if (!started) {
    for (const s of states) s.done = true;
    maybeFinish();
  }
};
onLoadOrders({
  start: () => {
    started = Date.now();
    atStart = ownResources();
    for (const s of states) s.worker.postMessage({ kind: 'start' });
  },
  stop: abort,
});
