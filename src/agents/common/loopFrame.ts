/**
 * The frame every JS load loop runs in (TCP connects, HTTP requests, DNS lookups): 'ready' once set up, progress
 * every interval, the agent's 'start' (the first min(concurrency, quota) attempts) and 'stop', and one 'done'
 * message when the last attempt is in. The loop itself only launches attempts and says when one has ended.
 */
import type { MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

export interface LoopSettings {
  concurrency: number;
  quota: number;
  durationMs: number;
  progressIntervalMs: number;
}

export interface LoopHandlers {
  launch(): void;
  /** Attempts in flight now. */
  inflight(): number;
  /** The agent said stop: end what is in flight or count it given up (the frame finishes once none is left). */
  stop(): void;
  /** The 'done' message (after releasing what the loop holds). */
  done(): object | Promise<object>;
  ready: object;
  progress(): object;
  /** A stop decided outside this thread (the burst's shared flag), checked before each launch. */
  stopped?(): boolean;
}

export interface LoopControl {
  /** An attempt has ended: launch the next one, or finish when none may start and none is in flight. */
  next(): void;
  /** True once the 'done' message is on its way: late completions are ignored. */
  finished(): boolean;
}

export function runLoopFrame(port: MessagePort, settings: LoopSettings, counts: { attempts: number }, h: LoopHandlers): LoopControl {
  let stopping = false;
  let deadline = Infinity;
  let done = false;
  const finish = async (): Promise<void> => {
    if (done) return;
    done = true;
    clearInterval(progress);
    port.postMessage(await h.done());
    port.close();
  };
  const next = (): void => {
    if (!stopping && !(h.stopped?.() ?? false) && counts.attempts < settings.quota && performance.now() < deadline) h.launch();
    else if (h.inflight() === 0) void finish();
  };
  const progress = setInterval(() => port.postMessage(h.progress()), settings.progressIntervalMs);
  port.on('message', (m: { kind: string }) => {
    if (m.kind === 'start') {
      deadline = performance.now() + settings.durationMs;
      const n = Math.min(settings.concurrency, settings.quota);
      for (let i = 0; i < n; i++) h.launch();
      if (n === 0) void finish();
    } else if (m.kind === 'stop') {
      stopping = true;
      h.stop();
      if (h.inflight() === 0) void finish();
    }
  });
  port.postMessage(h.ready);
  return { next, finished: () => done };
}
