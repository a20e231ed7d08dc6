/**
 * burst client worker, after the kernel's selftest conntrack_clash.sh: every worker of the client binds a
 * socket to the same source port (SO_REUSEADDR), all wait at a barrier, and are released at one instant to
 * send one query each (A or AAAA by worker), so packets with one tuple meet in conntrack on different CPUs.
 * Each round uses a fresh source port (a fresh conntrack entry). The answers reach whichever socket the
 * kernel picks, so answers are shared through memory: any worker that receives slot s's answer marks it.
 * A worker retries its own query like glibc (timeout, attempts) until it is answered or has failed.
 */
import dgram from 'node:dgram';
import { workerData } from 'node:worker_threads';
import { decodeResponse, encodeQuery, lookupName } from './packets.js';
import { afterTimeout, tryTimeoutMs } from './glibcResolver.js';
import { runLookupLoop, type LookupOutcome } from './workerLoop.js';
import { BURST_CTL, type DnsWorkerStart } from './protocol.js';

const cfg = workerData as DnsWorkerStart;
if (!cfg.burst) throw new Error('burst worker without its shared memory');
const { ctl: ctlBuf, answeredAt: atBuf, workers, index } = cfg.burst;
const ctl = new Int32Array(ctlBuf);
const answeredAt = new BigInt64Array(atBuf);
const SLOT = (s: number): number => BURST_CTL.SLOTS + s;
const ANSWERED = 1;
const FAILED = 2;

/** Atomics.waitAsync (Node >= 16) is not in TypeScript's ES2022 lib. */
type WaitAsync = (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const stopped = (): boolean => Atomics.load(ctl, BURST_CTL.STOP) === 1;

/**
 * All workers arrive, the last one resets the round's shared state and releases the others. A blocking wait
 * on purpose: it wakes every worker at once; nothing is in flight while workers wait here.
 */
function releaseBarrier(): boolean {
  const gen = Atomics.load(ctl, BURST_CTL.GEN);
  if (Atomics.add(ctl, BURST_CTL.ARRIVED, 1) === workers - 1) {
    Atomics.store(ctl, BURST_CTL.ARRIVED, 0);
    Atomics.store(ctl, BURST_CTL.REMAINING, workers);
    for (let s = 0; s < workers; s++) Atomics.store(ctl, SLOT(s), 0);
    Atomics.add(ctl, BURST_CTL.GEN, 1);
    Atomics.notify(ctl, BURST_CTL.GEN);
    return true;
  }
  while (Atomics.load(ctl, BURST_CTL.GEN) === gen) {
    if (stopped()) return false;
    Atomics.wait(ctl, BURST_CTL.GEN, gen, 200);
  }
  return true;
}

function settle(slot: number, how: number): void {
  if (Atomics.compareExchange(ctl, SLOT(slot), 0, how) !== 0) return;
  if (how === ANSWERED) answeredAt[slot] = process.hrtime.bigint();
  Atomics.sub(ctl, BURST_CTL.REMAINING, 1);
  Atomics.notify(ctl, BURST_CTL.REMAINING);
}

function bindShared(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    sock.once('error', reject);
    sock.bind(port, () => resolve(sock));
  });
}

async function burstRound(n: number): Promise<LookupOutcome> {
  const [lo, hi] = cfg.burstPorts;
  const sock = await bindShared(lo + (n % (hi - lo + 1)));
  const name = lookupName(cfg.zone, cfg.nameOffset + n);
  const base = (n * workers) & 0xffff;
  let gen = -1;
  sock.on('error', () => undefined);
  sock.on('message', (buf) => {
    const r = decodeResponse(buf);
    if (!r || r.name !== name || Atomics.load(ctl, BURST_CTL.GEN) !== gen) return;
    const slot = (r.id - base) & 0xffff;
    if (slot < workers) settle(slot, ANSWERED);
  });
  const ok = releaseBarrier();
  gen = Atomics.load(ctl, BURST_CTL.GEN);
  if (!ok) {
    sock.close();
    return { error: 'ABORTED', queries: 0, retries: 0, partial: false };
  }
  const query = encodeQuery(base + index, index % 2 === 0 ? 'A' : 'AAAA', name);
  const t0 = process.hrtime.bigint();
  let queries = 1;
  let tries = 0;
  sock.send(query, cfg.port, cfg.server);
  let deadline = Date.now() + tryTimeoutMs(cfg.timeoutMs);
  // Wait until every slot of the round is settled: this socket may be the one receiving the others' answers.
  for (;;) {
    const remaining = Atomics.load(ctl, BURST_CTL.REMAINING);
    if (remaining <= 0 || stopped()) break;
    const mine = Atomics.load(ctl, SLOT(index));
    const waitMs = mine !== 0 ? 100 : Math.max(1, deadline - Date.now());
    const w = waitAsync(ctl, BURST_CTL.REMAINING, remaining, waitMs);
    if (w.async) await w.value;
    if (Atomics.load(ctl, SLOT(index)) === 0 && Date.now() >= deadline) {
      if (afterTimeout(tries, cfg.attempts) === 'fail') settle(index, FAILED);
      else {
        tries++;
        queries++;
        sock.send(query, cfg.port, cfg.server);
        deadline = Date.now() + tryTimeoutMs(cfg.timeoutMs);
      }
    }
  }
  sock.close();
  const state = Atomics.load(ctl, SLOT(index));
  const at = answeredAt[index] ?? t0;
  if (state === ANSWERED) return { error: null, queries, retries: tries, partial: false, micros: Number(at - t0) / 1000 };
  return { error: state === FAILED ? 'ETIMEDOUT' : 'ABORTED', queries, retries: tries, partial: false, micros: Number(process.hrtime.bigint() - t0) / 1000 };
}

runLookupLoop(cfg.loop, burstRound, stopped);
