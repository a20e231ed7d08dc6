/**
 * The part every native-engine worker shares (tcpEngineWorker.ts, dnsEngineWorker.ts): the engine's live counts
 * in shared memory relayed as progress, 'start' starts the engine on its own thread, 'stop' raises its stop slot,
 * and when the engine says it has finished (polled), one 'done' message with what it collected, then the port closes.
 */
import type { MessagePort } from 'node:worker_threads';
import type { NativeEngine } from './nativeAddon.js';

const FINISH_POLL_MS = 20;

export interface EngineWorkerSpec<Counts extends object> {
  /** Int32 slots of the shared array and the one the engine polls for a stop. */
  sharedLength: number;
  stopSlot: number;
  progressIntervalMs: number;
  /** The live counts from the shared array. */
  read(shared: Int32Array): Counts;
  start(shared: Int32Array): NativeEngine;
  finished(engine: NativeEngine): boolean;
  progress(counts: Counts): object;
  /** The 'done' message: the last counts and what the engine collected (null: it never started). */
  done(counts: Counts, engine: NativeEngine | null): object;
  ready: object;
}

export function runEngineWorker<Counts extends object>(port: MessagePort, spec: EngineWorkerSpec<Counts>): void {
  const shared = new Int32Array(new SharedArrayBuffer(spec.sharedLength * Int32Array.BYTES_PER_ELEMENT));
  let engine: NativeEngine | null = null;
  let poll: NodeJS.Timeout | undefined;
  let done = false;

  const progress = setInterval(() => port.postMessage(spec.progress(spec.read(shared))), spec.progressIntervalMs);

  const finish = (): void => {
    if (done) return;
    done = true;
    clearInterval(progress);
    clearInterval(poll);
    port.postMessage(spec.done(spec.read(shared), engine));
    port.close();
  };

  port.on('message', (m: { kind: string }) => {
    if (m.kind === 'start' && !engine && !done) {
      const running = spec.start(shared);
      engine = running;
      poll = setInterval(() => {
        if (spec.finished(running)) finish();
      }, FINISH_POLL_MS);
    } else if (m.kind === 'stop') {
      Atomics.store(shared, spec.stopSlot, 1);
      if (!engine) finish();
    }
  });
  port.postMessage(spec.ready);
}
