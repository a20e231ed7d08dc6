/**
 * What a server agent's primary does whatever it serves: fork the cluster workers, say `ready` once every one
 * listens, hand their reports on (and count them as the answers a fresh "stats" waits for), answer the runner's
 * "stats" and stop (a last stats line, then the workers go). A worker's error ends the agent.
 */
import cluster from 'node:cluster';
import { emit, type ReadyEvent } from './protocol.js';
import { freshReports } from './freshReports.js';
import { onServerOrders } from './runnerOrders.js';
import type { AgentResources } from './resources.js';

/** What a server worker tells its primary: 'listening', 'error' (with its message), or its counts. */
export interface WorkerReportBase {
  kind: string;
  message?: string;
  resources?: AgentResources;
}

export interface ServerPrimarySpec<R extends WorkerReportBase> {
  workers: number;
  role: ReadyEvent['role'];
  /** Names the workers in error lines. */
  label: string;
  /** A worker's 'listening' report (before the count toward ready). */
  onListening?(report: R): void;
  /** Any other report of worker `id` (its counts). */
  onReport(id: number, report: R): void;
  /** Emit the agent's stats event from the reports kept. */
  emitStats(): void;
}

export function runServerPrimary<R extends WorkerReportBase>(spec: ServerPrimarySpec<R>): void {
  const fresh = freshReports(() => spec.emitStats());
  let listening = 0;
  for (let i = 0; i < spec.workers; i++) {
    const w = cluster.fork();
    w.on('message', (m: R) => {
      if (m.kind === 'listening') {
        spec.onListening?.(m);
        if (++listening === spec.workers) emit({ type: 'ready', role: spec.role, pid: process.pid });
      } else if (m.kind === 'error') {
        emit({ type: 'error', message: `${spec.label}: ${m.message ?? 'unknown error'}` });
        process.exit(1);
      } else {
        spec.onReport(w.id, m);
        fresh.answered(w.id);
      }
    });
    w.on('exit', (code) => {
      if (code !== 0 && code !== null) emit({ type: 'error', message: `${spec.label} exited with code ${code}` });
    });
  }
  onServerOrders({
    stats: () => fresh.ask(),
    stop: () => {
      spec.emitStats();
      for (const w of Object.values(cluster.workers ?? {})) w?.kill();
      process.exit(0);
    },
  });
}
