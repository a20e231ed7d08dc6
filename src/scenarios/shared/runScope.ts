import { RunSession } from '../../runner/runSession.js';
import type { ScenarioHooks } from '../../runner/hooks.js';

/** A run in progress: its session, and what to undo when it ends. */
export interface RunScope {
  session: RunSession;
  /** Undo `fn` when the run ends, whatever happens; undone in reverse order of registration. */
  onTeardown(fn: () => Promise<unknown>): void;
}

/** A scope and its end: the load agents killed, every teardown in reverse order, host state removed, session closed. */
export async function openRunScope(command: string, hooks: ScenarioHooks = {}): Promise<{ scope: RunScope; close(): Promise<void> }> {
  const session = await RunSession.open(command, hooks);
  const teardowns: (() => Promise<unknown>)[] = [];
  return {
    scope: { session, onTeardown: (fn) => void teardowns.push(fn) },
    async close() {
      session.phase('teardown');
      for (const c of session.load) c.kill();
      for (const fn of teardowns.reverse()) await fn().catch(() => undefined);
      teardowns.length = 0;
      await session.removeHostState();
      await session.close();
    },
  };
}

/** Every scenario run: the session opened first (run id, lock, state file, abort), `body` run, then everything undone. */
export async function withRun<T>(command: string, hooks: ScenarioHooks, body: (scope: RunScope) => Promise<T>): Promise<T> {
  const { scope, close } = await openRunScope(command, hooks);
  try {
    return await body(scope);
  } finally {
    await close();
  }
}
