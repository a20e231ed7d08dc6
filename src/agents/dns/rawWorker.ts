/**
 * raw client worker: each lookup opens a fresh UDP socket (a fresh source port, as glibc does), connects it to
 * the server (glibc's send_dg does too), sends the A and the AAAA query back to back with ids of their own, and
 * waits for both answers like glibc: `timeout` per try, then both queries again from the same socket,
 * `attempts` tries in all.
 *
 * The sockets are libuv handles driven through Node's udp_wrap binding where it is there (see udpHandles.ts),
 * else (or when the client asks for it: `sockets`) dgram sockets; the result says which (`socketPath`). The
 * client prefers the native engine (dnsEngineWorker.ts) to this worker when it was built. Queries and answers
 * are read and written on the bytes (src/dns/wire.ts).
 */
import dgram from 'node:dgram';
import { workerData } from 'node:worker_threads';
import { canonicalName, type QueryType } from './packets.js';
import { buildQuery, encodeName, lookupQname, rcodeName, readResponse } from './wire.js';
import { afterTimeout, tryTimeoutMs } from './glibcResolver.js';
import { runLookupLoop, type LookupOutcome } from './workerLoop.js';
import { errnoName } from '../common/errnoName.js';
import { udpWrapBinding, type UdpSendReq, type UdpWrapBinding } from './udpHandles.js';
import type { DnsWorkerStart, RawSocketPath } from './protocol.js';

const TYPES: readonly QueryType[] = ['A', 'AAAA'];

/** One lookup's socket: send a datagram (null, or the error code), close. */
interface LookupSocket {
  send(buf: Buffer): string | null;
  close(): void;
}
type OpenSocket = (onAnswer: (buf: Buffer) => void, onError: (code: string) => void) => LookupSocket | string;

/** A connected libuv UDP handle (connect binds it to a fresh ephemeral port first). */
function handleOpener(b: UdpWrapBinding, server: string, port: number): OpenSocket {
  let spare: UdpSendReq | null = null;
  return (onAnswer, onError) => {
    const h = new b.UDP();
    const err = h.connect(server, port);
    if (err < 0) {
      h.close();
      return errnoName(err);
    }
    h.onmessage = (nread, _h, buf) => {
      if (nread < 0) onError(errnoName(nread));
      else if (buf) onAnswer(buf);
    };
    const rerr = h.recvStart();
    if (rerr < 0) {
      h.close();
      return errnoName(rerr);
    }
    return {
      send(buf) {
        // A send the kernel took at once (r > 0) leaves its request unused: the next send reuses it.
        const req = spare ?? new b.SendWrap();
        spare = null;
        req.list = [buf];
        const r = h.send(req, req.list, 1, false);
        if (r > 0) spare = req;
        return r < 0 ? errnoName(r) : null;
      },
      close: () => h.close(),
    };
  };
}

/** The public API: a dgram socket, connected the same way. Sends wait for the connect (dgram queues them). */
function dgramOpener(server: string, port: number): OpenSocket {
  return (onAnswer, onError) => {
    const sock = dgram.createSocket('udp4');
    sock.on('error', (e: NodeJS.ErrnoException) => onError(e.code ?? 'ERROR'));
    sock.on('message', onAnswer);
    const queued: Buffer[] = [];
    let connected = false;
    sock.connect(port, server, () => {
      connected = true;
      for (const b of queued.splice(0)) sock.send(b);
    });
    return {
      send(buf) {
        if (connected) sock.send(buf);
        else queued.push(buf);
        return null;
      },
      close: () => sock.close(),
    };
  };
}

function rawLookup(cfg: DnsWorkerStart, n: number, open: OpenSocket): Promise<LookupOutcome> {
  return new Promise((resolve) => {
    const qname = lookupQname(zoneWire, cfg.nameOffset + n);
    const firstId = Math.floor(Math.random() * 0x10000);
    const idA = firstId;
    const idAAAA = (firstId + 1) & 0xffff;
    const queries = [buildQuery(idA, TYPES[0] ?? 'A', qname), buildQuery(idAAAA, TYPES[1] ?? 'AAAA', qname)];
    let answered = 0; // bit 0: A, bit 1: AAAA
    let sent = 0;
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let sock: LookupSocket | null = null;

    const end = (error: string | null): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      sock?.close();
      resolve({ error, queries: sent, retries: Math.max(0, sent - TYPES.length), partial: false });
    };
    const sendTry = (s: LookupSocket): void => {
      // Both queries of a try leave back to back: the pair that meets in conntrack.
      for (const q of queries) {
        sent++;
        const err = s.send(q);
        if (err !== null) return end(err);
      }
      timer = setTimeout(() => {
        if (afterTimeout(tries, cfg.attempts) === 'fail') return end('ETIMEDOUT');
        tries++;
        sendTry(s);
      }, tryTimeoutMs(cfg.timeoutMs));
    };
    const opened = open(
      (buf) => {
        const r = readResponse(buf, qname);
        if (r === null) return; // not ours: glibc ignores it too
        const bit = r.id === idA ? 1 : r.id === idAAAA ? 2 : 0;
        if (bit === 0) return;
        if (r.rcode !== 0) return end(rcodeName(r.rcode));
        answered |= bit;
        if (answered === 3) end(null);
      },
      (code) => end(code),
    );
    if (typeof opened === 'string') return end(opened);
    sock = opened;
    sendTry(opened);
  });
}

const cfg = workerData as DnsWorkerStart;
const zoneWire = encodeName(canonicalName(cfg.zone));
// dnsClient.ts has checked that udp_wrap, when asked for, is there.
const binding = cfg.sockets === 'dgram' ? null : udpWrapBinding();
const socketPath: RawSocketPath = binding ? 'udp_wrap' : 'dgram';
const open = binding ? handleOpener(binding, cfg.server, cfg.port) : dgramOpener(cfg.server, cfg.port);
runLookupLoop(cfg.loop, (n) => rawLookup(cfg, n, open), undefined, socketPath);
