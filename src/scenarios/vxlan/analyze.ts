import { decodeHistogram } from '../../histogram.js';
import { countSignatures, lostSynsBeforeTimeout } from '../../analysis/signatures.js';
import { confirmedLosses, HARNESS_FAILURE_LIMIT, serverDrops, stalledAttempts, synLossNotes } from '../../analysis/verdict.js';
import { loadFigures } from '../../analysis/loadFigures.js';
import { assumedExponentialSchedule } from '../../analysis/synSchedule.js';
import type { OuterFlowSummary } from './doubleSnat.js';
import type { ClientOutcome } from '../shared/clientOutcome.js';
import type { VxlanMode } from './options.js';
import type { Attribution, ModeCounters, ModeResult, SynSchedule, Verdict, VxlanEvidence } from '../../types.js';

/**
 * One vxlan mode, pure: the client's connects, node A's tables and the counters of every namespace on the path
 * in; the double-SNAT evidence, the lost SYNs and what explains them, and a verdict out.
 *
 * Verdict: `reproduced` = the outer VXLAN flows were masqueraded a second time (double SNAT present);
 * `not-reproduced` = outer flows were seen and none was; `inconclusive` = no outer flow to judge by;
 * `invalid` = the harness failed (the pod's listener dropped SYNs, or connects failed for other reasons).
 * Whether the double SNAT cost packets on this kernel is stated apart (`vxlan.drops`), never assumed.
 */
export interface VxlanModeInput {
  mode: VxlanMode;
  rule: string;
  client: ClientOutcome;
  /** conntrack: node A's stat deltas; clients: node A (the host-network client); server: pod B. */
  counters: ModeCounters;
  /** nstat-style deltas of node B, which receives the outer UDP packets. */
  receiver: Record<string, number>;
  outer: OuterFlowSummary;
  markedOuterFlows: number;
  masqueradeHits: number;
  durationMs: number;
  connectTimeoutMs: number;
  /** Did node B count datagrams sent with a broken checksum (src/net/checksumProbe.ts)? null: not checked. */
  receiverVerifiesChecksums: boolean | null;
  /** Node A's SYN retransmit schedule (read from its sysctls); the pre-6.5 exponential one when not given. */
  synSchedule?: SynSchedule;
}

/** Where a broken checksum would be counted: node B (outer UDP in), pod B (inner TCP in), node A (replies). */
export function checksumErrors(input: Pick<VxlanModeInput, 'counters' | 'receiver'>): Record<string, number> {
  const v = (r: Record<string, number>, k: string): number => r[k] ?? 0;
  return {
    'nodeB UdpInCsumErrors': v(input.receiver, 'UdpInCsumErrors'),
    'nodeB TcpInCsumErrors': v(input.receiver, 'TcpInCsumErrors'),
    'podB TcpInCsumErrors': v(input.counters.server, 'TcpInCsumErrors'),
    'nodeA UdpInCsumErrors': v(input.counters.clients, 'UdpInCsumErrors'),
    'nodeA TcpInCsumErrors': v(input.counters.clients, 'TcpInCsumErrors'),
  };
}

const TIMEOUT_CODE = 'ETIMEDOUT';
const ABORT_CODE = 'ABORTED';

export function analyzeVxlanMode(input: VxlanModeInput): ModeResult {
  const h = decodeHistogram(input.client.histogram);
  try {
    const { attempts, succeeded, failed, failures } = input.client;
    const schedule = input.synSchedule ?? assumedExponentialSchedule();
    const sig = countSignatures(h, input.connectTimeoutMs, schedule);
    const timeouts = failures[TIMEOUT_CODE] ?? 0;
    const synRetrans = input.counters.clients['TcpExtTCPSynRetrans'];
    const lossInput = {
      bands: sig.bands,
      timeouts,
      lostSynsPerTimeout: lostSynsBeforeTimeout(input.connectTimeoutMs, schedule),
      ...(synRetrans === undefined ? {} : { synRetrans }),
    };
    const confirmed = confirmedLosses(lossInput);
    const lostSyns = confirmed.lostSyns;
    const csum = checksumErrors(input);
    const csumTotal = Object.values(csum).reduce((s, n) => s + n, 0);
    const listenDrops = serverDrops(input.counters.server);
    // The cause under test (a packet dropped for its checksum) is credited first, the pod's listener next.
    const byChecksum = Math.min(lostSyns, csumTotal);
    const byServer = Math.min(lostSyns - byChecksum, listenDrops);
    // A checksum drop is not the conntrack race: it has its own field, and conntrackRace stays 0.
    const attribution: Attribution = {
      unit: 'lost-syn',
      lostSyns,
      conntrackRace: 0,
      serverOverload: byServer,
      checksum: byChecksum,
      unexplained: lostSyns - byChecksum - byServer,
      // No race is tested here: the stalled attempts are the unit, none of them credited to conntrack.
      ...stalledAttempts(confirmed.stalled, 0),
      neverRetransmitted: confirmed.neverRetransmitted,
    };

    const doubleSnat = input.markedOuterFlows > 0 || input.outer.outerFlowsRemapped > 0;
    const drops = csumTotal > 0 || lostSyns > 0;
    const evidence: VxlanEvidence = {
      rules: input.mode.rules,
      masqueradeFlag: input.mode.flag,
      offloadOff: input.mode.offloadOff,
      outerFlows: input.outer.outerFlows,
      outerFlowsRemapped: input.outer.outerFlowsRemapped,
      markedOuterFlows: input.markedOuterFlows,
      masqueradeHits: input.masqueradeHits,
      example: input.outer.example,
      checksumErrors: csum,
      doubleSnat,
      drops,
    };

    const harnessFailures = Object.entries(failures)
      .filter(([k]) => k !== TIMEOUT_CODE && k !== ABORT_CODE)
      .reduce((s, [, v]) => s + v, 0);
    const { verdict, reason } = decide({ attempts, harnessFailures, listenDrops, evidence, attribution, csumTotal });

    const notes: string[] = synLossNotes(lossInput, 'node A');
    if (doubleSnat && input.outer.outerFlowsRemapped === 0) {
      notes.push(
        `outer flows were masqueraded a second time (${input.markedOuterFlows} still marked in POSTROUTING) but kept their source port: ` +
          `MASQUERADE without --random-fully changes nothing it does not have to, so there is no checksum to get wrong`,
      );
    }
    if (input.outer.outerFlowsRemapped > input.markedOuterFlows) {
      notes.push(`${input.outer.outerFlowsRemapped} outer flows are remapped but only ${input.markedOuterFlows} were counted marked: the counting rule and the table were read at different moments, or other traffic shares the vxlan port`);
    }
    if (input.receiverVerifiesChecksums !== true && csumTotal === 0) {
      notes.push(
        input.receiverVerifiesChecksums === false
          ? 'node B did not count datagrams sent with a broken checksum: 0 checksum errors here does not show the packets were intact'
          : 'whether node B verifies checksums on this path was not checked: 0 checksum errors is weaker evidence',
      );
    }
    if (!doubleSnat && drops) notes.push('SYNs or checksums were lost without any double SNAT: the drops have another cause');
    if (sig.slowOutsideBands > 0) notes.push(`${sig.slowOutsideBands} attempts took >= 200 ms but match no retransmit band (scheduling or load, not a lost SYN)`);
    if ((failures[ABORT_CODE] ?? 0) > 0) notes.push(`${failures[ABORT_CODE]} attempts were cut short when the run was stopped`);

    return {
      mode: input.mode.name,
      rule: input.rule,
      attempts,
      succeeded,
      failed,
      failures,
      ...loadFigures(attempts, input.durationMs, h, sig),
      counters: input.counters,
      attribution,
      verdict,
      reason,
      notes,
      vxlan: evidence,
      synSchedule: schedule,
    };
  } finally {
    h.destroy();
  }
}

interface DecideInput {
  attempts: number;
  harnessFailures: number;
  listenDrops: number;
  evidence: VxlanEvidence;
  attribution: Attribution;
  csumTotal: number;
}

function dropsSentence(d: DecideInput): string {
  const a = d.attribution;
  if (!d.evidence.drops) return 'drops: none (0 checksum errors on node B, pod B and node A; no SYN lost)';
  const parts = [`${d.csumTotal} checksum errors`, `${a.lostSyns} lost SYNs (${a.checksum ?? 0} matched by checksum errors, ${a.unexplained} unexplained)`];
  return `drops: ${parts.join(', ')}`;
}

function decide(d: DecideInput): { verdict: Verdict; reason: string } {
  const e = d.evidence;
  if (d.attempts === 0) return { verdict: 'invalid', reason: 'no connect attempt was made' };
  if (d.listenDrops > 0) {
    return { verdict: 'invalid', reason: `the pod's listener dropped ${d.listenDrops} SYNs (ListenOverflows/ListenDrops): the harness was the bottleneck` };
  }
  if (d.harnessFailures > d.attempts * HARNESS_FAILURE_LIMIT) {
    return { verdict: 'invalid', reason: `${d.harnessFailures} connects failed for reasons other than a lost SYN (more than ${HARNESS_FAILURE_LIMIT * 100} % of attempts)` };
  }
  if (e.doubleSnat) {
    const port = e.outerFlowsRemapped > 0 ? `, ${e.outerFlowsRemapped} of ${e.outerFlows} with a new source port` : ', source ports kept';
    return {
      verdict: 'reproduced',
      reason: `double SNAT: ${e.markedOuterFlows} new outer VXLAN flows reached POSTROUTING still marked 0x4000 and were masqueraded again${port}; ${dropsSentence(d)}`,
    };
  }
  if (e.outerFlows === 0) {
    return { verdict: 'inconclusive', reason: `no outer VXLAN flow of node A was found in its conntrack table, so double SNAT can be neither shown nor ruled out; ${dropsSentence(d)}` };
  }
  return {
    verdict: 'not-reproduced',
    reason: `no double SNAT: none of ${e.outerFlows} outer VXLAN flows was still marked or had its source rewritten (MASQUERADE hit ${e.masqueradeHits} new flows: the inner ones); ${dropsSentence(d)}`,
  };
}

/** One line per mode for the result's summary. */
export function summarizeVxlan(modes: readonly ModeResult[]): string {
  return modes
    .map((m) => {
      const v = m.vxlan;
      if (!v) return `${m.mode}: ${m.verdict}`;
      return `${m.mode}: double SNAT ${v.doubleSnat ? 'yes' : 'no'} (${v.outerFlowsRemapped}/${v.outerFlows} outer flows remapped), drops ${v.drops ? 'yes' : 'no'} (${m.attribution.lostSyns} lost SYNs in ${m.attempts} connects)`;
    })
    .join('; ');
}
