import { cleanup } from './cleanup.js';
import { EXIT } from '../exitCodes.js';

/**
 * Ctrl-C / SIGTERM for a run: the first asks the run to stop (its `finally` tears down and a partial result is
 * written); the second cleans up this run's leftovers only (found by its id) and exits 130.
 */
export interface InterruptHandling {
  signal: AbortSignal;
  /** Tell it the run id once known, so a second signal can clean up that run alone. */
  setRunId(id: string): void;
  dispose(): void;
}

export function handleInterrupts(say: (text: string) => void): InterruptHandling {
  const controller = new AbortController();
  let runId: string | undefined;
  let count = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    count++;
    if (count === 1) {
      say(`${sig}: stopping the load, tearing down, writing a partial result (again to exit at once)`);
      controller.abort();
    } else {
      say(`${sig} again: best-effort cleanup of run ${runId ?? '?'}, then exit`);
      // This process holds the run lock: cleanup must not wait for it.
      void (runId ? cleanup(runId, { holdsLock: true }) : Promise.resolve()).finally(() => process.exit(EXIT.INTERRUPTED));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    setRunId: (id) => (runId = id),
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
