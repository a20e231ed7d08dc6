import { encodeHistogram, mergeEncoded, percentileMs } from '../../histogram.js';
import { countSignatures, bandsToRecord, lostSynsBeforeTimeout } from '../../analysis/signatures.js';
import { attributeByEvidence, evidenceNote } from '../../analysis/evidence.js';
import { attribute, decideVerdict, detectableRatePer100k, impliedSynRetransmits, provokedBounds, raceCounter, RULE_OUT_BOUND, serverDrops, synLossNotes, vulnerability } from '../../analysis/verdict.js';
import { assumedExponentialSchedule } from '../../analysis/synSchedule.js';
import type { MasqueradeMode, ModeCounters, ModeEvidence, ModeResult, SynSchedule } from '../../types.js';
import type { ConnectPath } from '../../agents/tcp/connector.js';
import { httpModeFigures } from './httpFigures.js';
import type { ClientOutcome } from '../shared/clientOutcome.js';

/** What one client agent reported for one mode (the agent's result event, less its type tag). */

/** Slowest first: a mode whose clients took different paths is named by the slowest one. */
const PATHS_SLOWEST_FIRST: readonly ConnectPath[] = ['socket', 'handle', 'native', 'burst-native'];

export interface ModeInput {
  mode: MasqueradeMode;
  rule: string;
  clients: readonly ClientOutcome[];
  counters: ModeCounters;
  durationMs: number;
  connectTimeoutMs: number;
  detectRatePer100k: number;
  /** `--protocol http --keepalive`: requests reused pooled connections. */
  keepalive?: boolean;
  /** The clients' SYN retransmit schedule (read from their sysctls); the pre-6.5 exponential one when not given. */
  synSchedule?: SynSchedule;
  /** The mode's SYN capture, matched (--capture on): decides the attribution when it is complete. */
  evidence?: ModeEvidence;
}

/** Failure codes that mean a lost SYN (the connect timed out), or the run being stopped. */
const TIMEOUT_CODE = 'ETIMEDOUT';
const ABORT_CODE = 'ABORTED';

/** Pure: merge the clients' outcomes with the counter deltas into one mode's result and verdict. */
export function analyzeMode(input: ModeInput): ModeResult {
  const h = mergeEncoded(input.clients.map((c) => c.histogram));
  try {
    const attempts = input.clients.reduce((s, c) => s + c.attempts, 0);
    const succeeded = input.clients.reduce((s, c) => s + c.succeeded, 0);
    const failed = input.clients.reduce((s, c) => s + c.failed, 0);
    const failures: Record<string, number> = {};
    for (const c of input.clients) for (const [k, v] of Object.entries(c.failures)) failures[k] = (failures[k] ?? 0) + v;

    const schedule = input.synSchedule ?? assumedExponentialSchedule();
    const sig = countSignatures(h, input.connectTimeoutMs, schedule);
    const timeouts = failures[TIMEOUT_CODE] ?? 0;
    const synRetrans = input.counters.clients['TcpExtTCPSynRetrans'];
    const attributionInput = {
      bands: sig.bands,
      timeouts,
      lostSynsPerTimeout: lostSynsBeforeTimeout(input.connectTimeoutMs, schedule),
      conntrack: input.counters.conntrack,
      server: input.counters.server,
      ...(synRetrans === undefined ? {} : { synRetrans }),
    };
    const byCounters = attribute(attributionInput);
    const byEvidence = attributeByEvidence(byCounters, input.evidence, input.counters.conntrack, serverDrops(input.counters.server));
    const attribution = byEvidence ?? byCounters;
    const implied = impliedSynRetransmits(attributionInput);
    const harnessFailures = Object.entries(failures)
      .filter(([k]) => k !== TIMEOUT_CODE && k !== ABORT_CODE)
      .reduce((s, [, v]) => s + v, 0);
    const rc = raceCounter(input.counters.conntrack);
    const race = rc.drops;
    const decided = decideVerdict({
      attempts,
      attribution,
      serverDrops: serverDrops(input.counters.server),
      harnessFailures,
      conntrackRaceDrops: race,
      detectRatePer100k: input.detectRatePer100k,
      raceCounterAvailable: rc.counter !== null,
      ...(rc.counter ? { raceCounterName: rc.label } : {}),
    });
    const { verdict } = decided;
    const reason = byEvidence && (race > 0 || byEvidence.lostSyns > 0) ? `${decided.reason} ${evidenceReason(byEvidence.conntrackRace, race, rc.label, input.evidence)}` : decided.reason;

    const notes: string[] = [];
    if (input.evidence) notes.push(evidenceNote(input.evidence, byEvidence !== null));
    if (!('insert_failed' in input.counters.conntrack) && 'drop' in input.counters.conntrack) {
      notes.push("this kernel's conntrack stats have no insert_failed column: race drops are read from drop, which also counts table-full drops");
    }
    notes.push(...synLossNotes(attributionInput));
    if (synRetrans !== undefined && synRetrans > implied) {
      notes.push(extraRetransmitsNote(synRetrans, implied, input.counters.server['TcpExtTCPSYNChallenge']));
    }
    const noPort = failures['EADDRNOTAVAIL'] ?? 0;
    if (noPort > 0) {
      notes.push(
        `${noPort} connects found no free local port (EADDRNOTAVAIL): widen --port-range, lower --concurrency, or use --close rst (with fin each port waits in TIME_WAIT before reuse)`,
      );
    }
    if (rc.counter === 'min(insert_failed, drop)' && (input.counters.conntrack['insert_failed'] ?? 0) > race) {
      notes.push(
        `this kernel has no clashres column (before 5.10): insert_failed (+${input.counters.conntrack['insert_failed'] ?? 0}) also counts clashes it resolved, ` +
          `so race drops are read as min(insert_failed, drop) = ${race}`,
      );
    }
    if (race > attribution.conntrackRace && !byEvidence) {
      notes.push(`${rc.label} rose by ${race}, more than the ${attribution.lostSyns} lost SYNs seen: the excess is other traffic of this host or a race on a packet that was retransmitted unnoticed`);
    }
    const drop = input.counters.conntrack['drop'] ?? 0;
    const failedCount = input.counters.conntrack['insert_failed'] ?? 0;
    if (drop > failedCount) notes.push(`conntrack drop (+${drop}) exceeds insert_failed (+${failedCount}): the table may have been full (early_drop +${input.counters.conntrack['early_drop'] ?? 0})`);
    if (sig.slowOutsideBands > 0) notes.push(`${sig.slowOutsideBands} attempts took >= 200 ms but match no retransmit band (scheduling or load, not a lost SYN)`);
    if ((failures[ABORT_CODE] ?? 0) > 0) notes.push(`${failures[ABORT_CODE]} attempts were cut short when the run was stopped`);
    const httpClients = input.clients.flatMap((c) => (c.http ? [c.http] : []));
    const http =
      httpClients.length === 0
        ? null
        : httpModeFigures({ attempts, clients: httpClients, keepalive: input.keepalive ?? false, connectsRecorded: h.totalCount });
    if (http) notes.push(...http.notes);
    const connectPath = PATHS_SLOWEST_FIRST.find((p) => input.clients.some((c) => c.connectPath === p));
    if (connectPath && connectPath !== 'native' && connectPath !== 'burst-native') {
      notes.push(
        `the client agents connected through ${connectPath === 'handle' ? "libuv handles from JavaScript" : 'net.Socket'}, not the native connect engine ` +
          '(not built or not loadable here, see `repro doctor`): fewer attempts per second, so a rare race needs a longer run',
      );
    }

    return {
      mode: input.mode,
      rule: input.rule,
      attempts,
      succeeded,
      failed,
      failures,
      durationMs: Math.round(input.durationMs),
      connectsPerSecond: input.durationMs > 0 ? Math.round((attempts / input.durationMs) * 1000) : 0,
      latencyMs: {
        p50: percentileMs(h, 50),
        p90: percentileMs(h, 90),
        p99: percentileMs(h, 99),
        p999: percentileMs(h, 99.9),
        max: h.totalCount === 0 ? 0 : Math.round(h.maxValue) / 1000,
      },
      signatures: bandsToRecord(sig.bands),
      slowOutsideBands: sig.slowOutsideBands,
      counters: input.counters,
      attribution,
      verdict,
      reason,
      detectableRatePer100k: attempts > 0 ? Math.round(detectableRatePer100k(attempts) * 100) / 100 : null,
      notes,
      histogram: encodeHistogram(h),
      ...(http ? { http: http.figures } : {}),
      ...(connectPath ? { connectPath } : {}),
      synSchedule: schedule,
      ...(input.evidence ? { evidence: input.evidence } : {}),
      attributionRule: byEvidence ? 'evidence' : 'counters',
    };
  } finally {
    h.destroy();
  }
}

/** "12", or "< 1" for a rate that would round to 0 (never "0 per 100 000" beside a race that happened). */
export function per100kWords(count: number, attempts: number): string {
  const r = (count / attempts) * 100_000;
  return count > 0 && r < 0.5 ? '< 1' : String(Math.round(r));
}

/**
 * The burst phase asks "is this rule vulnerable", and its rates are provoked ones: its verdict says so in its own
 * words (vulnerable / not-vulnerable / inconclusive against the detect rate, vulnerability(); never reproduced: that
 * claim is the steady storm's), and the reason says what was ruled out. Called before the background test, which downgrades a vulnerable mode as it does a reproduced one.
 */
export function burstReading(m: ModeResult, detectRatePer100k: number): ModeResult {
  // Attempts that stalled on a race drop, each once (the comparisons' unit); lost SYNs in files without it.
  const k = m.attribution.raceStalled ?? m.attribution.conntrackRace;
  const decided = m.verdict === 'reproduced' || m.verdict === 'not-reproduced' || m.verdict === 'inconclusive';
  const verdict = decided ? vulnerability(k, m.attempts, detectRatePer100k) : m.verdict;
  const b = provokedBounds(k, m.attempts);
  const r = (x: number): string => (Number.isFinite(x) ? String(Number(x.toPrecision(2))) : '∞');
  let answer = '';
  if (verdict === 'vulnerable') {
    answer = `VULNERABLE when provoked (${per100kWords(k, m.attempts)} race drops per 100 000 provoked attempts, above ${detectRatePer100k} at ${RULE_OUT_BOUND}: at least ${r(b.lower)}): `;
  } else if (verdict === 'not-vulnerable') {
    answer = `not vulnerable when provoked (${k === 0 ? 'no race drop' : `${k} race drop${k === 1 ? '' : 's'}`} in ${m.attempts} provoked attempts: a race rate of ${r(b.upper)} per 100 000 or more is ruled out, ${RULE_OUT_BOUND}, below the ${detectRatePer100k} asked): `;
  } else if (decided) {
    answer = `neither vulnerable nor ruled out when provoked (${k} race drops in ${m.attempts} provoked attempts: ${r(b.lower)}-${r(b.upper)} per 100 000 at ${RULE_OUT_BOUND} each side, around the ${detectRatePer100k} asked): `;
  }
  return {
    ...m,
    load: 'burst',
    verdict,
    reason: `${answer}${m.reason}`,
    notes: [...m.notes, 'burst phase: every round all clients bind one source port and connect at one instant; its rates say how strongly the race can be provoked, not how often a workload meets it (the steady phase)'],
  };
}

/** What the packet evidence adds to the reason when it decided the attribution. */
function evidenceReason(raceCredited: number, race: number, counter: string, e: ModeEvidence | undefined): string {
  const lost = e?.lostSyns ?? 0;
  const collided = e?.collisions ?? 0;
  if (race > 0 && raceCredited === 0) return `(packet evidence: ${counter} +${race}, but none of the ${lost} SYNs lost in the NAT collided with another client's flow, so none is the race)`;
  return `(packet evidence: ${collided} of the ${lost} SYNs lost in the NAT collided with another client's flow)`;
}

/**
 * More SYN retransmits than the latency bands show lost SYNs. A SYN that meets a connection the server still holds
 * on that tuple (the client reused a local port before its own RST for the previous connection reached the server)
 * draws a challenge ACK (the server's TcpExtTCPSYNChallenge); the client answers it with a RST and, on a first SYN,
 * rearms the retransmit timer at TCP_TIMEOUT_MIN (tcp_rcv_synsent_state_process: 2 jiffies, 2-8 ms by CONFIG_HZ): a
 * retransmit, but no lost SYN and no stall. The rest completed outside a band.
 */
export function extraRetransmitsNote(synRetrans: number, implied: number, synChallenges: number | undefined): string {
  const extra = synRetrans - implied;
  const head = `clients retransmitted ${synRetrans} SYNs (TcpExtTCPSynRetrans), ${extra} more than the stalls imply`;
  const quick = Math.min(extra, synChallenges ?? 0);
  if (quick === 0) return `${head} (completed outside a band)`;
  const rest = extra - quick;
  return (
    `${head}: ${quick} answered a challenge ACK (server TcpExtTCPSYNChallenge +${synChallenges ?? 0}: a local port reused before ` +
    `the previous connection's RST reached the server; resent after TCP_TIMEOUT_MIN, 2 jiffies, not lost)` +
    (rest > 0 ? `, ${rest} completed outside a band` : '')
  );
}
