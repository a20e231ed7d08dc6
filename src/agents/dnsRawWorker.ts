/**
 * raw client worker: each lookup opens a fresh UDP socket (as glibc does), sends the A and the AAAA query
 * back to back with ids of their own, and waits for both answers like glibc: `timeout` per try, then both
 * queries again from the same socket, `attempts` tries in all.
 */
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { decodeResponse, encodeQuery, lookupName, type QueryType } from '../dns/packets.js';
import { afterTimeout, tryTimeoutMs } from '../dns/glibcResolver.js';
import { runLookupLoop, type LookupOutcome } from './dnsLookupLoop.js';
import type { DnsWorkerStart } from './dnsProtocol.js';

const TYPES: readonly QueryType[] = ['A', 'AAAA'];

function rawLookup(cfg: DnsWorkerStart, n: number): Promise<LookupOutcome> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const name = lookupName(cfg.zone, cfg.nameOffset + n);
    const firstId = randomInt(0, 0x10000);
    const ids = TYPES.map((_, i) => (firstId + i) & 0xffff);
    const answered = new Set<number>();
    let queries = 0;
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const end = (error: string | null): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      sock.close();
      resolve({ error, queries, retries: queries - TYPES.length, partial: false });
    };
    const sendTry = (): void => {
      // Both queries of a try leave back to back: the pair that meets in conntrack.
      TYPES.forEach((t, i) => {
        queries++;
        sock.send(encodeQuery(ids[i] ?? 0, t, name), cfg.port, cfg.server);
      });
      timer = setTimeout(() => {
        if (afterTimeout(tries, cfg.attempts) === 'fail') return end('ETIMEDOUT');
        tries++;
        sendTry();
      }, tryTimeoutMs(cfg.timeoutMs));
    };
    sock.on('error', (err: NodeJS.ErrnoException) => end(err.code ?? 'ERROR'));
    sock.on('message', (buf) => {
      const r = decodeResponse(buf);
      if (!r || !ids.includes(r.id) || r.name !== name) return; // not ours: glibc ignores it too
      if (r.rcode !== 'NOERROR') return end(r.rcode);
      answered.add(r.id);
      if (answered.size === ids.length) end(null);
    });
    sock.bind(0, () => sendTry());
  });
}

const cfg = workerData as DnsWorkerStart;
runLookupLoop(cfg.loop, (n) => rawLookup(cfg, n));
