import { RunSession } from '../../runner/runSession.js';
import type { ScenarioHooks } from '../../runner/hooks.js';
import { errorMessage } from '../../errors.js';
import type { ResultFile } from '../../types.js';

/** A run in progress: its session, and what to undo when it ends. */
export interface RunScope {
  session: RunSession;
  /** Undo `fn` when the run ends, whatever happens; undone in reverse order of registration. */
  onTeardown(fn: () => Promise<unknown>): void;
}

/**
 * A scope and its end: the load agents killed, every teardown in reverse order (each one tried, whatever the ones
 * before it did), host state removed, session closed. `close` returns what could not be undone, in words.
 */
export async function openRunScope(command: string, hooks: ScenarioHooks = {}): Promise<{ scope: RunScope; close(): Promise<string[]> }> {
  const session = await RunSession.open(command, hooks);
  const teardowns: (() => Promise<unknown>)[] = [];
  return {
    scope: { session, onTeardown: (fn) => void teardowns.push(fn) },
    async close() {
      session.phase('teardown');
      const failed: string[] = [];
      const attempt = async (fn: () => Promise<unknown>): Promise<void> => {
        await fn().catch((err: unknown) => void failed.push(errorMessage(err)));
      };
      for (const c of session.load) c.kill();
      for (const fn of teardowns.reverse()) await attempt(fn);
      teardowns.length = 0;
      await attempt(() => session.removeHostState());
      await session.close();
      if (failed.length > 0) failed.push(`run \`repro cleanup --run ${session.runId}\` to remove what is left`);
      return failed;
    },
  };
}

/**
 * `body` in a fresh scope, then everything undone; a body that threw keeps its error (with the teardown's failures
 * added), and what the teardown could not undo after a body that returned is `whenLeft`'s to say.
 */
async function runScoped<T, R>(
  command: string, hooks: ScenarioHooks, body: (scope: RunScope) => Promise<T>, whenLeft: (out: T, failed: string[]) => R,
): Promise<T | R> {
  const { scope, close } = await openRunScope(command, hooks);
  let out: T;
  try {
    out = await body(scope);
  } catch (err) {
    const failed = await close();
    throw failed.length > 0 ? new Error(`${errorMessage(err)}; and the teardown failed: ${failed.join('; ')}`) : err;
  }
  const failed = await close();
  return failed.length > 0 ? whenLeft(out, failed) : out;
}

/**
 * Every scenario run: the session opened first (run id, lock, state file, abort), `body` run, then everything
 * undone. What could not be undone is said in the result (`teardownErrors`), so the command exits non-zero.
 */
export function withRun<T extends ResultFile>(command: string, hooks: ScenarioHooks, body: (scope: RunScope) => Promise<T>): Promise<T> {
  return runScoped(command, hooks, body, (result, failed): T => ({ ...result, teardownErrors: failed }));
}

/** For tools around a lab (the bench): like withRun, but a teardown that failed is an error of its own. */
export function withScope<T>(command: string, hooks: ScenarioHooks, body: (scope: RunScope) => Promise<T>): Promise<T> {
  return runScoped(command, hooks, body, (_out, failed): never => {
    throw new Error(`teardown failed: ${failed.join('; ')}`);
  });
}
