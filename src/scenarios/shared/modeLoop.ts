import type { AgentConnection } from '../../runner/agentConnection.js';
import type { AgentEvent } from '../../agents/common/protocol.js';
import type { RunSession } from '../../runner/runSession.js';
import type { ScenarioHooks } from '../../runner/hooks.js';
import type { ModeBackground, ModeEvidence, ModeResult } from '../../types.js';
import { relayClientProgress } from './progressRelay.js';
import { invalidated, withBackground } from '../../analysis/verdict.js';
import { AGENT_READY_TIMEOUT_MS, SETTLE_MS, WATCHDOG_SLACK_MS } from './timing.js';

/** A load phase that did not end by itself within its bound: the run is stopped, never left hanging. */
export class WatchdogError extends Error {
  override name = 'WatchdogError';
}

type ResultEventType = 'result' | 'dns-result';
type ResultOf<T extends ResultEventType> = Extract<AgentEvent, { type: T }>;
/** What every load result carries, whichever its type. */
type LoadFacts = Pick<ResultOf<ResultEventType>, 'elapsedMs' | 'aborted'>;

/** What a scenario does in each mode; the loop does the rest, in the same order for every scenario. */
export interface ModeSteps<M, S, T extends ResultEventType> {
  name(mode: M): string;
  /** Rules, resolvers, offloads, emptied conntrack entries: the mode's state. Returns the rule as written. */
  prepare(mode: M, index: number): Promise<string>;
  /** Empty the lab's conntrack entries, so no mode inherits the previous one's NAT bindings. */
  clearEntries(): Promise<void>;
  /** The counters diffed around the load. */
  snapshot(): Promise<S>;
  /** This mode's load agents, started but not yet released. */
  startLoad(mode: M, index: number): Promise<AgentConnection[]>;
  resultEvent: T;
  /** Attempts the load makes in all (for progress). */
  target: number;
  /** The load's own bound (its duration plus what attempts in flight may still take), before the watchdog slack. */
  loadBoundMs: number;
  /** How the bound is made up, for the watchdog's message (e.g. "--duration + --connect-timeout"). */
  boundText: string;
  /** --duration (seconds): a mode that reached it before `target` says so in its reason. */
  durationSec?: number;
  /**
   * What changed of the mode's own state while it ran (a rule someone else removed or edited: a dockerd restart,
   * a firewalld reload, kube-proxy resyncing); anything listed makes the mode invalid.
   */
  verify?(mode: M): Promise<string[]>;
  /** After the after-snapshot (e.g. remove a mode's extra rules). */
  afterLoad?(mode: M): Promise<void>;
  /** Where the NAT is shared (the host), its background over an idle window as long as the load (ms). */
  background?(windowMs: number): Promise<ModeBackground>;
  /**
   * Packet evidence (a SYN capture): started before the load is released, stopped after the settle; what it found
   * reaches analyze. A mode that fails in between leaves it to the scenario's teardown to cancel.
   */
  capture?(mode: M): Promise<ModeCapture>;
  analyze(mode: M, rule: string, results: ResultOf<T>[], before: S, after: S, durationMs: number, evidence?: ModeEvidence): Promise<ModeResult>;
}

/** A running capture of one mode: stop and read it (loadStartedAtMs, epoch: when the load was released). */
export interface ModeCapture {
  stop(loadStartedAtMs: number): Promise<ModeEvidence>;
}

/**
 * The mode loop every scenario runs: per mode, prepare its state, snapshot the counters, start the load agents
 * and release them at once, wait for their results under a watchdog, let packets settle, snapshot again and
 * analyze. An abort stops between steps (the agents' input is closed and they report what they have).
 */
export async function runModes<M, S, T extends ResultEventType>(
  session: RunSession, hooks: ScenarioHooks, modes: readonly M[], steps: ModeSteps<M, S, T>,
): Promise<ModeResult[]> {
  const out: ModeResult[] = [];
  for (const [index, mode] of modes.entries()) {
    if (session.interrupted) break;
    const name = steps.name(mode);
    const rule = await steps.prepare(mode, index);
    // A failed flush does not stop the run, but the mode must say its table was not empty.
    const carried = await steps.clearEntries().then(
      () => null,
      (err: unknown) => `the lab's conntrack entries could not be emptied before this mode (${err instanceof Error ? err.message : String(err)}): entries of the previous mode carried over`,
    );
    session.phase(`mode ${name}: ${rule}`);
    const before = await steps.snapshot();

    const agents = (session.load = await steps.startLoad(mode, index));
    await Promise.all(agents.map((c) => c.waitFor('ready', AGENT_READY_TIMEOUT_MS)));
    if (session.interrupted) break;
    const capture = await steps.capture?.(mode);
    relayClientProgress(agents, hooks, { mode: name, index, total: modes.length, target: steps.target });
    const loadStartedAtMs = Date.now();
    for (const c of agents) c.send('start');

    const limitMs = steps.loadBoundMs + WATCHDOG_SLACK_MS;
    const results = await Promise.all(
      agents.map((c) =>
        c.waitFor(steps.resultEvent, limitMs).catch((err: unknown) => {
          throw new WatchdogError(
            `watchdog: ${c.label} gave no result within ${Math.round(limitMs / 1000)} s (${steps.boundText} + ${Math.round(WATCHDOG_SLACK_MS / 1000)} s), ` +
              `so the run was stopped and torn down (${err instanceof Error ? err.message : String(err)})`,
          );
        }),
      ),
    );
    // TypeScript does not narrow Extract<> over a type parameter; both result events carry these two fields.
    const facts = results as readonly LoadFacts[];
    const durationMs = Math.max(...facts.map((r) => r.elapsedMs));
    await Promise.all(agents.map((c) => c.stop()));
    session.load = [];

    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const evidence = await capture?.stop(loadStartedAtMs);
    const after = await steps.snapshot();
    const changed = (await steps.verify?.(mode)) ?? [];
    await steps.afterLoad?.(mode);
    const analyzed = await steps.analyze(mode, rule, results, before, after, durationMs, evidence);
    const checked = changed.length > 0 ? invalidated(analyzed, `the harness's rules changed during the mode (${changed.join('; ')})`) : analyzed;
    // The window is taken after the load because its length must be the load's, known only once it has run.
    const read = steps.background && !session.interrupted ? withBackground(checked, await steps.background(durationMs)) : checked;
    const aborted = facts.some((r) => r.aborted);
    const bounded = steps.durationSec !== undefined && !aborted && !session.interrupted ? stoppedByDuration(read, steps.durationSec, steps.target, durationMs) : read;
    const m = carried ? { ...bounded, notes: [...bounded.notes, carried] } : bounded;
    if (aborted) session.interrupted = true;
    out.push(m);
    hooks.onModeDone?.(m);
  }
  return out;
}

/**
 * Pure: a mode whose load ended at its --duration before making `target` attempts says so first in its reason (a
 * verdict of too few attempts is otherwise read as a property of the kernel), with how to get the rest.
 */
export function stoppedByDuration(m: ModeResult, durationSec: number, target: number, elapsedMs: number): ModeResult {
  if (m.attempts >= target || elapsedMs < durationSec * 1000 * 0.95) return m;
  const n = (x: number): string => x.toLocaleString('en-US');
  const said = `stopped at --duration ${n(durationSec)} s after ${n(m.attempts)} of ${n(target)} attempts`;
  return {
    ...m,
    reason: `${said[0]?.toUpperCase()}${said.slice(1)}. ${m.reason}`,
    notes: [...m.notes, `${said}: raise --duration for the rest (a slower machine or an emulated guest makes fewer attempts a second)`],
  };
}
