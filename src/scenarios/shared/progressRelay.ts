import { performance } from 'node:perf_hooks';
import type { AgentConnection } from '../../runner/agentConnection.js';
import type { ScenarioHooks, ScenarioProgress } from '../../runner/hooks.js';

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
