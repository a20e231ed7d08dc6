/**
 * The loop every DNS client worker runs, whatever a lookup is (raw queries, glibc's getaddrinfo, a burst
 * round): keep `concurrency` lookups in flight until the quota or the duration is used up, record each
 * lookup's latency (µs) into a histogram, failures by code and into their own histogram.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createHistogram, encodeHistogram, recordMicros } from '../../histogram.js';
import type { DnsWorkerStart, RawSocketPath } from './protocol.js';

export interface LookupOutcome {
  /** null: success; otherwise the failure code (ETIMEDOUT, EAI_AGAIN, NXDOMAIN, ...). */
  error: string | null;
  queries: number;
  retries: number;
  partial: boolean;
  /** The lookup's own latency when the loop's clock would overstate it (a burst round waits for its peers). */
  micros?: number;
}

export interface LoopCounts {
  attempts: number;
  succeeded: number;
  failed: number;
  stalls: number;
  queries: number;
  retries: number;
  partial: number;
}

export type LoopMessage =
  | { kind: 'ready'; socketPath?: RawSocketPath }
  | ({ kind: 'progress' } & LoopCounts)
  | ({ kind: 'done'; histogram: string; failureHistogram: string; failures: Record<string, number> } & LoopCounts);

/** concurrency, quota, duration, progress interval and the stall threshold of progress reports. */
export type LoopSettings = DnsWorkerStart['loop'];

/** Checked before each launch: a stop decided outside this thread (the burst's shared stop flag). */
export type StopCheck = () => boolean;

/** Run the loop in this worker; `lookup(n)` does lookup number n (0-based within this worker). */
export function runLookupLoop(
  settings: LoopSettings, lookup: (n: number) => Promise<LookupOutcome>, stopped: StopCheck = () => false, socketPath?: RawSocketPath,
): void {
  if (!parentPort) throw new Error('runLookupLoop must run in a worker thread');
  const port = parentPort;
  const hist = createHistogram();
  const failHist = createHistogram();
  const failures: Record<string, number> = {};
  const counts: LoopCounts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0, queries: 0, retries: 0, partial: 0 };
  let inflight = 0;
  let stopping = false;
  let deadline = Infinity;
  let done = false;

  const finish = (): void => {
    if (done) return;
    done = true;
    clearInterval(progress);
    port.postMessage({ kind: 'done', ...counts, failures, histogram: encodeHistogram(hist), failureHistogram: encodeHistogram(failHist) } satisfies LoopMessage);
    port.close();
  };

  const launch = (): void => {
    const n = counts.attempts++;
    inflight++;
    const t0 = performance.now();
    lookup(n)
      .catch((err: unknown): LookupOutcome => ({ error: (err as NodeJS.ErrnoException).code ?? 'ERROR', queries: 0, retries: 0, partial: false }))
      .then((o) => {
        if (done) return;
        inflight--;
        const ms = o.micros !== undefined ? o.micros / 1000 : performance.now() - t0;
        counts.queries += o.queries;
        counts.retries += o.retries;
        if (o.error === null) {
          counts.succeeded++;
          if (o.partial) counts.partial++;
          recordMicros(hist, ms * 1000);
        } else {
          counts.failed++;
          failures[o.error] = (failures[o.error] ?? 0) + 1;
          recordMicros(failHist, ms * 1000);
        }
        if (ms >= settings.stallMs) counts.stalls++;
        next();
      });
  };

  const next = (): void => {
    if (!stopping && !stopped() && counts.attempts < settings.quota && performance.now() < deadline) launch();
    else if (inflight === 0) finish();
  };

  const progress = setInterval(() => port.postMessage({ kind: 'progress', ...counts } satisfies LoopMessage), settings.progressIntervalMs);
  // Loaded and listening: the client reports ready only when every worker is, so the load starts at once.
  port.postMessage({ kind: 'ready', ...(socketPath ? { socketPath } : {}) } satisfies LoopMessage);

  port.on('message', (m: { kind: string }) => {
    if (m.kind === 'start') {
      deadline = performance.now() + settings.durationMs;
      const n = Math.min(settings.concurrency, settings.quota);
      for (let i = 0; i < n; i++) launch();
      if (n === 0) finish();
    } else if (m.kind === 'stop') {
      stopping = true;
      // Lookups still waiting for a timeout are cut short and counted, not waited for (up to 10 s).
      if (inflight > 0) {
        counts.failed += inflight;
        failures['ABORTED'] = (failures['ABORTED'] ?? 0) + inflight;
        inflight = 0;
      }
      finish();
    }
  });
}
