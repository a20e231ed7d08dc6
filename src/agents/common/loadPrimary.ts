/**
 * What a load agent's primary does whatever its workers load: say `ready` once every worker is, release them all
 * on the runner's "start", relay their summed counts as progress, stop them on the runner's stop (an abort before
 * the start ends at once), and emit the result line once every worker is done.
 */
import type { Worker } from 'node:worker_threads';
import { emit, type AgentEvent, type ReadyEvent } from './protocol.js';
import { ownResources, type AgentResources } from './resources.js';
import { onLoadOrders } from './runnerOrders.js';

export interface ProgressCounts {
  attempts: number;
  succeeded: number;
  failed: number;
  stalls: number;
}

/** How the load went, for the result line. */
export interface LoadRun {
  elapsedMs: number;
  aborted: boolean;
  resources: AgentResources;
  /** The agent's own use before the load was released (start-up), when it was. */
  resourcesAtStart: AgentResources | null;
}

/** The result line's fields about the run itself, as every load agent reports them. */
export function runFields(run: LoadRun): { elapsedMs: number; aborted: boolean; resources: AgentResources; resourcesAtStart?: AgentResources } {
  return { elapsedMs: run.elapsedMs, aborted: run.aborted, resources: run.resources, ...(run.resourcesAtStart ? { resourcesAtStart: run.resourcesAtStart } : {}) };
}

export interface LoadPrimarySpec {
  role: ReadyEvent['role'];
  workers: readonly Worker[];
  progressIntervalMs: number;
  /** Every worker's counts summed, for progress lines. */
  progress(): ProgressCounts;
  result(run: LoadRun): AgentEvent;
  /** Stop every worker (default: a 'stop' message to each). */
  stopWorkers?(): void;
  /** After every worker was told to start. */
  onStart?(): void;
}

export interface LoadPrimary {
  /** A worker is ready: the agent is, once every worker is (so the runner's clock never counts start-up). */
  workerReady(): void;
  /** Worker `index` is done (or failed). */
  workerDone(index: number): void;
}

export function runLoadPrimary(spec: LoadPrimarySpec): LoadPrimary {
  const done = spec.workers.map(() => false);
  let ready = 0;
  let started = 0;
  let atStart: AgentResources | null = null;
  let aborted = false;
  let finished = false;
  const stopWorkers = spec.stopWorkers ?? ((): void => spec.workers.forEach((w) => w.postMessage({ kind: 'stop' })));

  const maybeFinish = (): void => {
    if (finished || !done.every(Boolean)) return;
    finished = true;
    clearInterval(progressTimer);
    emit(spec.result({ elapsedMs: started ? Date.now() - started : 0, aborted, resources: ownResources(), resourcesAtStart: atStart }));
    process.exit(0);
  };
  const progressTimer = setInterval(() => {
    if (started) emit({ type: 'progress', ...spec.progress() });
  }, spec.progressIntervalMs);

  onLoadOrders({
    start: () => {
      started = Date.now();
      atStart = ownResources();
      for (const w of spec.workers) w.postMessage({ kind: 'start' });
      spec.onStart?.();
    },
    stop: () => {
      if (aborted || finished) return;
      aborted = true;
      stopWorkers();
      if (!started) {
        done.fill(true);
        maybeFinish();
      }
    },
  });
  return {
    workerReady: () => {
      if (++ready === spec.workers.length) emit({ type: 'ready', role: spec.role, pid: process.pid });
    },
    workerDone: (index) => {
      done[index] = true;
      maybeFinish();
    },
  };
}
