/**
 * A server agent's primary answering "stats" with its workers' counts as of now, not as of their last periodic
 * report: it asks every live worker for a report ({ kind: 'report' }) and answers once all have, or after
 * `waitMs` with what it has (a worker that does not answer keeps its last report).
 */
import cluster from 'node:cluster';

export interface FreshReports {
  /** "stats" asked for: ask the workers (an ask already under way is not repeated). */
  ask(): void;
  /** Worker `id`'s report arrived (periodic ones too: only those asked for count). */
  answered(id: number): void;
}

const REPORT_REQUEST = { kind: 'report' } as const;

export function freshReports(emitStats: () => void, waitMs = 1000): FreshReports {
  let pending: Set<number> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    clearTimeout(timer);
    pending = null;
    emitStats();
  };
  return {
    ask() {
      if (pending) return;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is NonNullable<typeof w> => w !== undefined && w.isConnected());
      if (workers.length === 0) return emitStats();
      pending = new Set(workers.map((w) => w.id));
      timer = setTimeout(finish, waitMs);
      for (const w of workers) w.send(REPORT_REQUEST);
    },
    answered(id) {
      if (pending?.delete(id) && pending.size === 0) finish();
    },
  };
}

/** In a worker: is this message from the primary a report request? */
function isReportRequest(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === REPORT_REQUEST.kind;
}

/**
 * In a worker: send `report()` every 500 ms and whenever the primary asks (so a "stats" answer counts everything
 * so far), and exit with the primary.
 */
export function reportToPrimary(report: () => void): void {
  setInterval(report, 500).unref();
  process.on('message', (m: unknown) => {
    if (isReportRequest(m)) report();
  });
  process.on('disconnect', () => process.exit(0));
}
