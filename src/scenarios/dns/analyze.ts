import { countBetween, mergeEncoded, type Histogram } from '../../histogram.js';
import { loadFigures } from '../../analysis/loadFigures.js';
import { BAND_EARLY_MS, BAND_LATE_FRACTION, BAND_LATE_MS, SLOW_THRESHOLD_MS } from '../../analysis/signatures.js';
import { attemptsToRuleOut, HARNESS_FAILURE_LIMIT, raceDrops } from '../../analysis/verdict.js';
import { stallSignatureMs } from '../../agents/dns/glibcResolver.js';
import type { Attribution, DnsSocketPath, ModeCounters, ModeResult, SignatureBand, Verdict } from '../../types.js';

/**
 * Pure analysis of one `repro dns` mode: lookup latencies + counter deltas in, a ModeResult (the tcp-syn
 * contract, in lookups and lost queries) out. A lookup whose first k tries were lost completes after about
 * k x the resolver timeout (5 s, 10 s with glibc's defaults); failures are counted apart.
 */
export const DNS_TOLERANCE_DESCRIPTION =
  `band k (k lost tries) covers [T-${BAND_EARLY_MS} ms, T+${BAND_LATE_MS} ms+${BAND_LATE_FRACTION * 100}% of T] with T = k x the resolver timeout ` +
  `(5 s: 5 s, 10 s); failed lookups are counted apart; lookups >= ${SLOW_THRESHOLD_MS} ms outside every band are "slow outside bands"`;

/** Failure codes that mean every try timed out (the harness's own, glibc's), or the run being stopped. */
export const TIMEOUT_CODES = ['ETIMEDOUT', 'EAI_AGAIN'] as const;
const ABORT_CODE = 'ABORTED';
/** The DNS server's namespace counters that mean it dropped queries. */
export const SERVER_DROP_COUNTERS = ['UdpRcvbufErrors', 'UdpInErrors'] as const;

/** What one client agent reported for one mode. */
export interface DnsClientOutcome {
  lookups: number;
  succeeded: number;
  failed: number;
  failures: Record<string, number>;
  histogram: string;
  queriesSent: number;
  retries: number;
  partial: number;
  /** raw client: the path its lookups took. */
  socketPath?: DnsSocketPath;
}

/** Slowest first: a mode names the slowest path any of its clients took. */
const SOCKET_PATHS_SLOWEST_FIRST: readonly DnsSocketPath[] = ['dgram', 'udp_wrap', 'native'];

export interface DnsModeInput {
  mode: string;
  rule: string;
  clients: readonly DnsClientOutcome[];
  counters: ModeCounters;
  durationMs: number;
  timeoutMs: number;
  attempts: number;
  detectRatePer100k: number;
  /** Notes the scenario knows (a mitigation this client ignores, the path the queries took...). */
  notes?: readonly string[];
}

export function dnsSignatureBands(timeoutMs: number, attempts: number): Omit<SignatureBand, 'count'>[] {
  return Array.from({ length: attempts }, (_, i) => {
    const t = stallSignatureMs(i + 1, timeoutMs);
    return { name: `${t / 1000}s`, lostSyns: i + 1, loMs: t - BAND_EARLY_MS, hiMs: t + BAND_LATE_MS + BAND_LATE_FRACTION * t };
  });
}

function countBands(h: Histogram, timeoutMs: number, attempts: number): { bands: SignatureBand[]; slowOutsideBands: number } {
  const bands = dnsSignatureBands(timeoutMs, attempts).map((b) => ({ ...b, count: countBetween(h, b.loMs * 1000, b.hiMs * 1000) }));
  const slow = countBetween(h, SLOW_THRESHOLD_MS * 1000, Number.MAX_SAFE_INTEGER);
  return { bands, slowOutsideBands: Math.max(0, slow - bands.reduce((s, b) => s + b.count, 0)) };
}

/** Queries the server's namespace dropped (UdpInErrors includes UdpRcvbufErrors: take the larger). */
export function dnsServerDrops(server: Record<string, number>): number {
  return Math.max(...SERVER_DROP_COUNTERS.map((k) => server[k] ?? 0));
}

/** Lost queries: the latency bands (k per lookup in band k) plus every try of each lookup that failed by timeout. */
export function attributeLostQueries(lostQueries: number, conntrack: Record<string, number>, harnessDrops: number): Attribution {
  const conntrackRace = Math.min(lostQueries, raceDrops(conntrack));
  const serverOverload = Math.min(lostQueries - conntrackRace, harnessDrops);
  return { unit: 'lost-query', lostSyns: lostQueries, conntrackRace, serverOverload, unexplained: lostQueries - conntrackRace - serverOverload };
}

/** What the kernel did with clashes, in one sentence: resolved (clashres), dropped (insert_failed), or neither. */
export function clashSentence(conntrack: Record<string, number>): string {
  const failed = conntrack['insert_failed'] ?? 0;
  const resolved = conntrack['clashres'];
  if (resolved === undefined) {
    return failed > 0
      ? `the kernel dropped ${failed} clashing packets (insert_failed +${failed}); it has no clashres column, so resolved clashes are not counted`
      : `no unresolved clash (insert_failed 0); this kernel has no clashres column, so resolved clashes are not counted`;
  }
  if (resolved === 0 && failed === 0) return 'no clash reached conntrack (clashres 0, insert_failed 0)';
  const parts: string[] = [];
  if (resolved > 0) parts.push(`resolved ${resolved} clashes (clashres +${resolved})`);
  if (failed > 0) parts.push(`dropped ${failed} (insert_failed +${failed})`);
  else parts.push('dropped none (insert_failed 0)');
  return `the kernel ${parts.join(' and ')}`;
}

interface DnsVerdictInput {
  lookups: number;
  attribution: Attribution;
  serverDrops: number;
  clientDrops: number;
  harnessFailures: number;
  conntrack: Record<string, number>;
  detectRatePer100k: number;
}

export function decideDnsVerdict(v: DnsVerdictInput): { verdict: Verdict; reason: string } {
  const a = v.attribution;
  const clash = clashSentence(v.conntrack);
  if (v.lookups === 0) return { verdict: 'invalid', reason: 'no lookup was made' };
  if (v.serverDrops > 0) {
    return { verdict: 'invalid', reason: `the harness's DNS server dropped ${v.serverDrops} queries (UdpRcvbufErrors/UdpInErrors): it was a bottleneck, so stalls cannot be pinned on the race` };
  }
  if (v.clientDrops > 0) {
    return { verdict: 'invalid', reason: `the clients dropped ${v.clientDrops} answers (UdpRcvbufErrors): the harness was a bottleneck` };
  }
  if (v.harnessFailures > v.lookups * HARNESS_FAILURE_LIMIT) {
    return { verdict: 'invalid', reason: `${v.harnessFailures} lookups failed for reasons other than a timeout (more than ${HARNESS_FAILURE_LIMIT * 100} % of lookups)` };
  }
  if (a.conntrackRace > 0) {
    const rest = a.unexplained > 0 ? `; ${a.unexplained} more lost queries are explained by no counter` : '';
    return { verdict: 'reproduced', reason: `${a.conntrackRace} of ${a.lostSyns} lost queries are matched by conntrack insert_failed; ${clash}${rest}` };
  }
  const needed = attemptsToRuleOut(v.detectRatePer100k);
  const unexplained = a.unexplained > 0 ? ` (${a.unexplained} lost queries seen, none matched by insert_failed)` : '';
  if (v.lookups >= needed) {
    return { verdict: 'not-reproduced', reason: `no lookup lost to the race in ${v.lookups}: a rate of ${v.detectRatePer100k} per 100 000 or more is ruled out at 95 %; ${clash}${unexplained}` };
  }
  return { verdict: 'inconclusive', reason: `no lookup lost to the race in ${v.lookups}, too few to rule out ${v.detectRatePer100k} per 100 000 (needs ${needed}); ${clash}${unexplained}` };
}

/** Pure: merge the clients' outcomes with the counter deltas into one mode's result and verdict. */
export function analyzeDnsMode(input: DnsModeInput): ModeResult {
  const h = mergeEncoded(input.clients.map((c) => c.histogram));
  try {
    const sum = (f: (c: DnsClientOutcome) => number): number => input.clients.reduce((s, c) => s + f(c), 0);
    const lookups = sum((c) => c.lookups);
    const failures: Record<string, number> = {};
    for (const c of input.clients) for (const [k, v] of Object.entries(c.failures)) failures[k] = (failures[k] ?? 0) + v;
    const timeouts = TIMEOUT_CODES.reduce((s, k) => s + (failures[k] ?? 0), 0);
    const harnessFailures = Object.entries(failures)
      .filter(([k]) => !(TIMEOUT_CODES as readonly string[]).includes(k) && k !== ABORT_CODE)
      .reduce((s, [, v]) => s + v, 0);

    const sig = countBands(h, input.timeoutMs, input.attempts);
    const lostQueries = sig.bands.reduce((s, b) => s + b.lostSyns * b.count, 0) + timeouts * input.attempts;
    const serverDrops = dnsServerDrops(input.counters.server);
    const clientDrops = input.counters.clients['UdpRcvbufErrors'] ?? 0;
    const attribution = attributeLostQueries(lostQueries, input.counters.conntrack, serverDrops + clientDrops);
    const { verdict, reason } = decideDnsVerdict({
      lookups, attribution, serverDrops, clientDrops, harnessFailures, conntrack: input.counters.conntrack, detectRatePer100k: input.detectRatePer100k,
    });

    const notes = [...(input.notes ?? [])];
    notes.push(`${clashSentence(input.counters.conntrack)}`);
    const race = raceDrops(input.counters.conntrack);
    if (race > attribution.conntrackRace) {
      notes.push(`insert_failed rose by ${race}, more than the ${lostQueries} lost queries seen: a lost query retried within its lookup's first try, or other traffic of this host`);
    }
    const retries = sum((c) => c.retries);
    const queries = sum((c) => c.queriesSent);
    if (queries > 0) notes.push(`${queries} queries sent, ${retries} of them retries after a ${input.timeoutMs / 1000} s timeout`);
    const partial = sum((c) => c.partial);
    if (partial > 0) notes.push(`${partial} lookups returned only one address family (the resolver gave up on the other query)`);
    if (sig.slowOutsideBands > 0) notes.push(`${sig.slowOutsideBands} lookups took >= ${SLOW_THRESHOLD_MS} ms but match no timeout band (scheduling or load, not a lost query)`);
    if ((failures[ABORT_CODE] ?? 0) > 0) notes.push(`${failures[ABORT_CODE]} lookups were cut short when the mode's time ran out or the run was stopped`);
    const socketPath = SOCKET_PATHS_SLOWEST_FIRST.find((p) => input.clients.some((c) => c.socketPath === p));
    if (socketPath && socketPath !== 'native') {
      notes.push(
        `the raw client sent its lookups through ${socketPath === 'udp_wrap' ? 'libuv UDP handles from JavaScript' : 'dgram sockets'}, not the native DNS engine ` +
          '(not built, not loadable here, or REPRO_DNS_SOCKETS, see `repro doctor`): fewer lookups per second, so a rare race needs a longer run',
      );
    }

    return {
      mode: input.mode,
      rule: input.rule,
      attempts: lookups,
      succeeded: sum((c) => c.succeeded),
      failed: sum((c) => c.failed),
      failures,
      ...loadFigures(lookups, input.durationMs, h, sig),
      counters: input.counters,
      attribution,
      verdict,
      reason,
      notes,
      ...(socketPath ? { socketPath } : {}),
    };
  } finally {
    h.destroy();
  }
}
