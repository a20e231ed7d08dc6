import type { Attribution, CapturedSyn, EvidenceCollision, EvidenceRecord, ModeEvidence } from '../types.js';
import { raceDrops, stalledAttempts } from './verdict.js';

/** A translated copy may carry a timestamp a little before its pre-NAT copy's (they are taken on different paths). */
const COPY_WINDOW_US = 2_000;
/** A SYN that passed the NAT is seen after it within this long (a retransmit, if any, comes later still). */
const PASS_WINDOW_US = 500_000;
/** Another SYN translated to the lost one's outer tuple within this long of it: the two raced for one tuple. */
export const COLLISION_WINDOW_US = 1_000;
export const MAX_RECORDS = 100;

export interface EvidenceInput {
  syns: readonly CapturedSyn[];
  /** Where the clients are ("10.213.0.0/24"): a SYN from it has not been translated yet. */
  clientSubnet: string;
  server: { address: string; port: number };
  /** The mode's load start, ms since the epoch (records' atMs count from it). */
  loadStartedAtMs: number;
  /** tcpdump's dropped-by-kernel count. */
  capturedDrops: number;
  /**
   * True where the NAT keeps a client's source port when it can (MASQUERADE without a flag): the lost SYN needed
   * the outer port equal to its own, so a collision is a SYN translated to exactly that outer tuple. False (--random,
   * --random-fully): the port the lost SYN drew is not on the wire (the loser is dropped at confirm, after NAT), so
   * no collision can be named: another client's SYN nearby in time most likely got another port (at 5 000
   * connects/s one is always within 1 ms), and calling it the partner would be a guess.
   */
  portKept: boolean;
}

interface Transmission {
  tUs: number;
  src: string;
  sport: number;
  seq: number;
}

interface Passed extends Transmission {
  /** The pre-NAT SYN it was translated from, when seen. */
  origin: Transmission | null;
}

function ipv4(addr: string): number {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${addr}`);
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

function subnetTest(cidr: string): (addr: string) => boolean {
  const [base, len] = cidr.split('/');
  const bits = Number(len);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`not an IPv4 prefix: ${cidr}`);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const net = (ipv4(base) & mask) >>> 0;
  return (addr) => ((ipv4(addr) & mask) >>> 0) === net;
}

/**
 * One entry per transmission. A packet crossing a bridge is seen on the port and on the bridge, so a flow's SYN
 * (same tuple and seq) is seen once per interface it crosses, and a retransmit once more on each: the interface
 * that saw the flow most often tells its transmissions (time gaps do not: a resend after a challenge ACK comes
 * within milliseconds, and a busy softirq can delay a copy as much).
 */
function transmissions(syns: readonly CapturedSyn[]): Transmission[] {
  const flows = new Map<string, Map<string, CapturedSyn[]>>();
  for (const s of [...syns].sort((a, b) => a.tUs - b.tUs)) {
    const key = `${s.src}:${s.sport}:${s.seq}`;
    let byIface = flows.get(key);
    if (!byIface) flows.set(key, (byIface = new Map()));
    const list = byIface.get(s.iface);
    if (list) list.push(s);
    else byIface.set(s.iface, [s]);
  }
  const out: Transmission[] = [];
  for (const byIface of flows.values()) {
    let best: CapturedSyn[] = [];
    for (const list of byIface.values()) {
      if (list.length > best.length || (list.length === best.length && (list[0]?.tUs ?? Infinity) < (best[0]?.tUs ?? Infinity))) best = list;
    }
    for (const s of best) out.push({ tUs: s.tUs, src: s.src, sport: s.sport, seq: s.seq });
  }
  return out.sort((a, b) => a.tUs - b.tUs);
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

/** Index of the first element with tUs >= t in a list sorted by time. */
function firstAtOrAfter(list: readonly { tUs: number }[], t: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid]?.tUs ?? Infinity) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Pure: match the SYNs seen before the NAT (source in the client subnet) with those seen after it (translated
 * source, same seq: SNAT keeps the sequence number) and name, for each one that never came out, the other
 * client's SYN that was translated to the outer tuple it needed just before it (the race), or none.
 */
export function buildEvidence(input: EvidenceInput): ModeEvidence {
  const isClient = subnetTest(input.clientSubnet);
  const towardsServer = input.syns.filter((s) => s.dst === input.server.address && s.dport === input.server.port);
  const pre = transmissions(towardsServer.filter((s) => isClient(s.src)));
  const postRaw = transmissions(towardsServer.filter((s) => !isClient(s.src)));

  const postBySeq = groupBy(postRaw, (t) => String(t.seq));
  const preByFlow = groupBy(pre, (t) => `${t.src}:${t.sport}:${t.seq}`);

  // Each pre-NAT transmission passed if a translated SYN with its seq follows it before its next retransmit.
  const passedPre = new Set<Transmission>();
  const posts: Passed[] = [];
  const originOf = new Map<Transmission, Transmission>();
  for (const flow of preByFlow.values()) {
    const outs = postBySeq.get(String(flow[0]?.seq)) ?? [];
    for (const [i, t] of flow.entries()) {
      const until = Math.min(flow[i + 1]?.tUs ?? Infinity, t.tUs + PASS_WINDOW_US);
      const hit = outs.find((o) => o.tUs >= t.tUs - COPY_WINDOW_US && o.tUs < until && !originOf.has(o));
      if (hit) {
        passedPre.add(t);
        originOf.set(hit, t);
      }
    }
  }
  for (const o of postRaw) posts.push({ ...o, origin: originOf.get(o) ?? null });
  // A translated SYN whose seq no client sent (its pre-NAT copy not seen) has no origin; it can still be a collision partner.

  const postByPort = groupBy(posts, (p) => String(p.sport));
  // A collision is the same outer tuple in every mode: only known where the NAT keeps the port.
  const collisionFor = (t: Transmission): EvidenceCollision | null => {
    if (!input.portKept) return null;
    const pool = postByPort.get(String(t.sport)) ?? [];
    let best: Passed | null = null;
    for (let i = firstAtOrAfter(pool, t.tUs - COLLISION_WINDOW_US); i < pool.length; i++) {
      const p = pool[i];
      if (!p || p.tUs > t.tUs + COLLISION_WINDOW_US) break;
      if (p.origin && p.origin.src === t.src) continue;
      // Prefer the partner seen before the lost SYN (the winner of the race is usually translated first), then the nearest.
      if (!best || rank(p, t) < rank(best, t)) best = p;
    }
    if (!best) return null;
    return {
      client: best.origin?.src ?? 'unknown',
      sport: best.origin?.sport ?? 0,
      translated: `${best.src}:${best.sport}`,
      dtUs: Math.round(t.tUs - best.tUs),
    };
  };

  const lost = pre.filter((t) => !passedPre.has(t));
  const records: EvidenceRecord[] = [];
  let collisions = 0;
  for (const t of lost) {
    const collision = collisionFor(t);
    if (collision) collisions++;
    if (records.length < MAX_RECORDS) {
      const flow = preByFlow.get(`${t.src}:${t.sport}:${t.seq}`) ?? [];
      records.push({
        client: t.src,
        sport: t.sport,
        seq: t.seq,
        atMs: Math.round(t.tUs - input.loadStartedAtMs * 1000) / 1000,
        reachedServer: flow.some((f) => f.tUs > t.tUs && passedPre.has(f)),
        collision,
      });
    }
  }
  return {
    captured: pre.length,
    capturedDrops: input.capturedDrops,
    lostSyns: lost.length,
    collisions,
    records,
    recordsOmitted: lost.length - records.length,
    tupleKnown: input.portKept,
  };
}

function rank(p: Transmission, t: Transmission): number {
  const dt = t.tUs - p.tUs;
  return dt >= 0 ? dt : COLLISION_WINDOW_US - dt;
}

/** Whether a capture saw everything it was meant to: evidence decides attribution only then. */
export function evidenceComplete(e: ModeEvidence | undefined): e is ModeEvidence {
  return e !== undefined && e.capturedDrops === 0;
}

/** "10.213.0.2:40123 (seq 123) at +2.314 s never left the NAT; 10.213.0.4:40123 had been translated to 10.213.1.1:40123 18 µs earlier" */
export function describeRecord(r: EvidenceRecord, tupleKnown = true): string {
  const head = `${r.client}:${r.sport} (seq ${r.seq}) at +${(r.atMs / 1000).toFixed(3)} s never left the NAT${r.reachedServer ? ' (a retransmit later did)' : ''}`;
  if (!r.collision) {
    return tupleKnown
      ? `${head}; no other SYN was translated to its outer tuple within ${COLLISION_WINDOW_US / 1000} ms`
      : `${head}; the outer port it drew is not on the wire (ports are randomized), so no partner can be named`;
  }
  const c = r.collision;
  const by = c.client === 'unknown' ? 'a SYN' : `${c.client}:${c.sport}`;
  return c.dtUs >= 0 ? `${head}; ${by} had been translated to ${c.translated} ${c.dtUs} µs earlier` : `${head}; ${by} was translated to ${c.translated} ${-c.dtUs} µs later`;
}

/**
 * Attribution by packet evidence, when the capture is complete (else null: the counter rule decides). The race is
 * credited only to lost SYNs that collided with another client's flow, and only as far as the race counter moved;
 * a lost SYN without a collision is never the race, whatever the counters say.
 */
export function attributeByEvidence(byCounters: Attribution, e: ModeEvidence | undefined, conntrack: Record<string, number>, serverDropCount: number): Attribution | null {
  // Without the outer tuple (randomized ports) the capture cannot tell a race from any other loss: the counters decide.
  if (!evidenceComplete(e) || e.tupleKnown === false) return null;
  // The clients' latencies also see SYNs lost beyond the NAT (the server's queue); the capture sees every one lost in it.
  const lostSyns = Math.max(byCounters.lostSyns, e.lostSyns);
  const race = raceDrops(conntrack);
  const conntrackRace = race > 0 ? Math.min(e.collisions, race, lostSyns) : 0;
  const serverOverload = Math.min(lostSyns - conntrackRace, serverDropCount);
  return {
    ...byCounters,
    unit: 'lost-syn',
    lostSyns,
    conntrackRace,
    serverOverload,
    unexplained: lostSyns - conntrackRace - serverOverload,
    ...stalledAttempts(byCounters.stalled ?? 0, conntrackRace),
  };
}

/** The mode's note on its capture: what it saw, and whether it decided the attribution. */
export function evidenceNote(e: ModeEvidence, decided: boolean): string {
  const head = `SYN capture: ${e.captured} SYNs seen before the NAT, ${e.lostSyns} never left it`;
  if (e.tupleKnown === false) {
    return `${head}; with randomized ports the outer tuple a lost SYN drew is not on the wire, so the capture names no collision and the counters decided the attribution`;
  }
  const seen = `${head}, ${e.collisions} of them right after another client's SYN was translated to the same outer tuple`;
  if (decided) return `${seen}; the race is attributed by this packet evidence`;
  return `${seen}; the capture missed ${e.capturedDrops} packets (dropped by the kernel or unreadable), so the counters decided the attribution`;
}

/** How many lost SYNs the reports tell in words. */
export const RECORDS_IN_WORDS = 5;

/** The first few lost SYNs in words, for the reports (their notes), and how many more the result holds. */
export function evidenceLines(e: ModeEvidence | undefined): string[] {
  if (!e || e.lostSyns === 0) return [];
  const lines = e.records.slice(0, RECORDS_IN_WORDS).map((r) => `lost SYN: ${describeRecord(r, e.tupleKnown !== false)}`);
  const more = e.lostSyns - lines.length;
  if (more > 0) lines.push(`${more} more lost SYNs (${e.records.length} recorded in the result's modes[].evidence.records, ${e.recordsOmitted} counted only)`);
  return lines;
}
