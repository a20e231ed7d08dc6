import { newRunId } from '../host/names.js';
import { RunStateFile } from './runState.js';
import { RunLock } from './runLock.js';
import { dropTablesCreatedByRun, ownedByRun, removeRules } from '../host/iptables.js';
import { deleteEntriesFromSubnet } from '../host/conntrackTable.js';
import type { AgentConnection } from './agentConnection.js';
import type { ScenarioHooks } from './hooks.js';

/**
 * What every scenario run does around its own work: a run id, the host's run lock (taken before anything is
 * created, released after everything is gone), the state file `repro cleanup` reads, and the abort signal
 * (Ctrl-C closes the running load agents' input, so they stop and report what they have).
 */
export class RunSession {
  readonly startedAt = new Date().toISOString();
  readonly runId = newRunId();
  readonly state = new RunStateFile(this.runId);
  readonly phase: (text: string) => void;
  /** Set by an abort, or by a runner whose agents reported they were cut short. */
  interrupted = false;
  /** The load agents of the current mode: closed on abort, killed on close. */
  load: AgentConnection[] = [];
  private readonly onAbort = (): void => {
    this.interrupted = true;
    for (const c of this.load) c.closeInput();
  };

  private constructor(private readonly lock: RunLock, private readonly hooks: ScenarioHooks) {
    this.phase = hooks.onPhase ?? (() => undefined);
    hooks.onRunId?.(this.runId);
    hooks.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  static async open(command: string, hooks: ScenarioHooks = {}): Promise<RunSession> {
    const session = new RunSession(await RunLock.acquire(command), hooks);
    await session.state.save();
    return session;
  }

  /** The host-side state of the run: its tagged rules, the tables it created, its subnets' conntrack entries. */
  async removeHostState(): Promise<void> {
    await removeRules(ownedByRun(this.runId));
    await dropTablesCreatedByRun(this.state.state.tables);
    for (const subnet of this.state.state.subnets) await deleteEntriesFromSubnet(subnet).catch(() => 0);
  }

  /** Last step of a run's teardown: the load agents killed, the state file removed, the lock released. */
  async close(): Promise<void> {
    this.hooks.signal?.removeEventListener('abort', this.onAbort);
    for (const c of this.load) c.kill();
    this.load = [];
    await this.state.remove();
    this.lock.releaseSync();
  }
}
