/**
 * Raw lookups on the native engine (nativeDns.ts): the engine's own thread keeps `concurrency` lookups in flight
 * until the quota, the duration or a stop, each as dnsRawWorker.ts makes it (fresh connected socket, A and AAAA
 * back to back, glibc's tries); this worker speaks the loop protocol of dnsLookupLoop.ts (ready, progress,
 * done), relaying the engine's live counts and, at the end, its buckets as the same histograms.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalName } from '../dns/packets.js';
import { encodeName } from '../dns/wire.js';
import { tryTimeoutMs } from '../dns/glibcResolver.js';
import { encodeCollected, type NativeEngine } from './nativeConnect.js';
import { DNS_SHARED, dnsFailuresByName, nativeDnsMissing, nativeDnsModule } from './nativeDns.js';
import type { LoopCounts, LoopMessage } from './dnsLookupLoop.js';
import type { DnsWorkerStart } from './dnsProtocol.js';

const FINISH_POLL_MS = 20;

if (parentPort) {
  const port = parentPort;
  const cfg = workerData as DnsWorkerStart;
  const engines = nativeDnsModule();
  if (!engines) throw new Error(`native DNS engine unavailable: ${nativeDnsMissing() ?? 'unknown reason'}`);
  const shared = new Int32Array(new SharedArrayBuffer(DNS_SHARED.LENGTH * Int32Array.BYTES_PER_ELEMENT));
  const counts: LoopCounts = { attempts: 0, succeeded: 0, failed: 0, stalls: 0, queries: 0, retries: 0, partial: 0 };
  let engine: NativeEngine | null = null;
  let poll: NodeJS.Timeout | undefined;
  let done = false;

  // The engine's live counts (partial stays 0: a raw lookup succeeds with both answers or fails).
  const slots = [
    ['attempts', DNS_SHARED.ATTEMPTS], ['succeeded', DNS_SHARED.SUCCEEDED], ['failed', DNS_SHARED.FAILED],
    ['stalls', DNS_SHARED.STALLS], ['queries', DNS_SHARED.QUERIES], ['retries', DNS_SHARED.RETRIES],
  ] as const;
  const read = (): void => {
    for (const [key, slot] of slots) counts[key] = Atomics.load(shared, slot);
  };
  const progress = setInterval(() => {
    read();
    port.postMessage({ kind: 'progress', ...counts } satisfies LoopMessage);
  }, cfg.loop.progressIntervalMs);

  const finish = (): void => {
    if (done) return;
    done = true;
    clearInterval(progress);
    clearInterval(poll);
    read();
    const collected = engine ? engines.collect(engine) : null;
    const result = encodeCollected(collected, (pairs) => dnsFailuresByName(pairs, engines.RCODE_KEY));
    port.postMessage({ kind: 'done', ...counts, ...result } satisfies LoopMessage);
    port.close();
  };

  port.on('message', (m: { kind: string }) => {
    if (m.kind === 'start' && !engine && !done) {
      const { loop } = cfg;
      engine = engines.start(
        cfg.server, cfg.port, encodeName(canonicalName(cfg.zone)), cfg.nameOffset, loop.concurrency, loop.quota, loop.durationMs,
        tryTimeoutMs(cfg.timeoutMs), cfg.attempts, loop.stallMs, shared,
      );
      const running = engine;
      poll = setInterval(() => {
        if (engines.finished(running)) finish();
      }, FINISH_POLL_MS);
    } else if (m.kind === 'stop') {
      Atomics.store(shared, DNS_SHARED.STOP, 1);
      if (!engine) finish();
    }
  });
  port.postMessage({ kind: 'ready', socketPath: 'native' } satisfies LoopMessage);
}
