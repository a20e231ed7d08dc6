import { performance } from 'node:perf_hooks';
import type { ModeResult } from '../types.js';
import type { AgentConnection } from './agentConnection.js';

/** Where a scenario's load stands, for progress lines. */
export interface ScenarioProgress {
  mode: string;
  index: number;
  total: number;
  attempts: number;
  target: number;
  stalls: number;
  failed: number;
  elapsedMs: number;
}

/** What a scenario runner tells its caller while it runs, and how it is asked to stop. */
export interface ScenarioHooks {
  /** Told the run id before anything is created (so a second Ctrl-C can clean up that run alone). */
  onRunId?: (runId: string) => void;
  onPhase?: (text: string) => void;
  onProgress?: (p: ScenarioProgress) => void;
  onModeDone?: (m: ModeResult) => void;
  signal?: AbortSignal;
}

/**
 * Sum the clients' progress events into one progress line per event: how far this mode's load stands over all
 * of its clients, timed from now (the clients are released right after).
 */
export function relayClientProgress(
  clients: readonly AgentConnection[], hooks: ScenarioHooks, at: Pick<ScenarioProgress, 'mode' | 'index' | 'total' | 'target'>,
): void {
  const progress = clients.map(() => ({ attempts: 0, stalls: 0, failed: 0 }));
  const t0 = performance.now();
  clients.forEach((c, i) =>
    c.onEvent((e) => {
      if (e.type !== 'progress') return;
      progress[i] = { attempts: e.attempts, stalls: e.stalls, failed: e.failed };
      hooks.onProgress?.({
        ...at,
        attempts: progress.reduce((s, p) => s + p.attempts, 0),
        stalls: progress.reduce((s, p) => s + p.stalls, 0),
        failed: progress.reduce((s, p) => s + p.failed, 0),
        elapsedMs: performance.now() - t0,
      });
    }),
  );
}
