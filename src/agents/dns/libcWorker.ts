/**
 * libc client worker: the real glibc resolver. Node's dns.lookup() calls getaddrinfo() on the libuv thread
 * pool; with both families (family 0, no AI_ADDRCONFIG) glibc sends the A and the AAAA query itself, with the
 * timing and options of the resolv.conf the harness wrote for this namespace. The thread pool is sized by the
 * client process (UV_THREADPOOL_SIZE) so `concurrency` lookups really run at once.
 */
import { lookup } from 'node:dns/promises';
import { workerData } from 'node:worker_threads';
import { lookupName } from './packets.js';
import { runLookupLoop, type LookupOutcome } from './workerLoop.js';
import type { DnsWorkerStart } from './protocol.js';

async function libcLookup(cfg: DnsWorkerStart, n: number): Promise<LookupOutcome> {
  try {
    const addrs = await lookup(lookupName(cfg.zone, cfg.nameOffset + n), { all: true, family: 0, hints: 0 });
    const families = new Set(addrs.map((a) => a.family));
    return { error: null, queries: 0, retries: 0, partial: families.size < 2 };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? 'ERROR', queries: 0, retries: 0, partial: false };
  }
}

const cfg = workerData as DnsWorkerStart;
runLookupLoop(cfg.loop, (n) => libcLookup(cfg, n));
