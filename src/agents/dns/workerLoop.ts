/**
 * The loop every DNS client worker runs, whatever a lookup is (raw queries, glibc's getaddrinfo, a burst
 * round): keep `concurrency` lookups in flight until the quota or the duration is used up, record each
 * lookup's latency (µs) into a histogram, failures by code and into their own histogram.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { attemptRecord } from '../common/attempts.js';
import { runLoopFrame } from '../common/loopFrame.js';
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
  const record = attemptRecord();
  const counts: LoopCounts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0, queries: 0, retries: 0, partial: 0 };
  let inflight = 0;

  const launch = (): void => {
    const n = counts.attempts++;
    inflight++;
    const t0 = performance.now();
    lookup(n)
      .catch((err: unknown): LookupOutcome => ({ error: (err as NodeJS.ErrnoException).code ?? 'ERROR', queries: 0, retries: 0, partial: false }))
      .then((o) => {
        if (loop.finished()) return;
        inflight--;
        const ms = o.micros !== undefined ? o.micros / 1000 : performance.now() - t0;
        counts.queries += o.queries;
        counts.retries += o.retries;
        if (o.error === null) {
          counts.succeeded++;
          if (o.partial) counts.partial++;
          record.ok(ms);
        } else {
          counts.failed++;
          record.fail(o.error, ms);
        }
        if (ms >= settings.stallMs) counts.stalls++;
        loop.next();
      });
  };

  const loop = runLoopFrame(parentPort, settings, counts, {
    launch,
    inflight: () => inflight,
    stopped,
    // Lookups still waiting for a timeout are cut short and counted, not waited for (up to 10 s).
    stop: () => {
      counts.failed += inflight;
      record.failUntimed('ABORTED', inflight);
      inflight = 0;
    },
    done: () => ({ kind: 'done', ...counts, ...record.encoded() }) satisfies LoopMessage,
    progress: () => ({ kind: 'progress', ...counts }) satisfies LoopMessage,
    // Loaded and listening: the client reports ready only when every worker is, so the load starts at once.
    ready: { kind: 'ready', ...(socketPath ? { socketPath } : {}) } satisfies LoopMessage,
  });
}
