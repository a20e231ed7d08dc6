import { countBetween, mergeEncoded, type Histogram } from '../../histogram.js';
import { loadFigures } from '../../analysis/loadFigures.js';
import { BAND_EARLY_MS, BAND_LATE_FRACTION, BAND_LATE_MS, SLOW_THRESHOLD_MS } from '../../analysis/signatures.js';
import { attemptsToRuleOut, HARNESS_FAILURE_LIMIT, raceCounter, resolvedClashes, RULE_OUT_BOUND, ruledOutPhrase, stalledAttempts } from '../../analysis/verdict.js';

export { resolvedClashes };
import { resolvConfTiming, stallSignatureMs } from '../../agents/dns/glibcResolver.js';
import type { Attribution, DnsSocketPath, ModeCounters, ModeResult, ResolverTiming, SignatureBand, Verdict } from '../../types.js';

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
  /**
   * The resolv.conf the clients' glibc read (--client libc): its timeout and attempts, parsed as glibc parses them,
   * decide the bands; timeoutMs/attempts above are then only the agents' configuration, checked against it.
   */
  resolvConf?: string;
}

/** The timing a mode's bands follow: the resolv.conf's when there is one, else the clients' own configuration. */
export function resolverTiming(input: Pick<DnsModeInput, 'timeoutMs' | 'attempts' | 'resolvConf'>): ResolverTiming {
  if (input.resolvConf === undefined) return { timeoutMs: input.timeoutMs, attempts: input.attempts, source: 'client-config' };
  return { ...resolvConfTiming(input.resolvConf), source: 'resolv.conf' };
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

/**
 * Lost queries: the latency bands (k per lookup in band k) plus every try of each lookup that failed by timeout.
 * `stalledLookups` (lookups in a band or timed out) is the unit comparisons test: a lookup stalls or not.
 */
export function attributeLostQueries(lostQueries: number, conntrack: Record<string, number>, harnessDrops: number, stalledLookups?: number): Attribution {
  const conntrackRace = Math.min(lostQueries, raceCounter(conntrack).drops);
  const serverOverload = Math.min(lostQueries - conntrackRace, harnessDrops);
  return {
    unit: 'lost-query',
    lostSyns: lostQueries,
    conntrackRace,
    serverOverload,
    unexplained: lostQueries - conntrackRace - serverOverload,
    ...(stalledLookups === undefined ? {} : stalledAttempts(stalledLookups, conntrackRace)),
  };
}

/** What the kernel did with clashes, in one sentence: resolved (clashres), dropped (insert_failed), or neither. */
export function clashSentence(conntrack: Record<string, number>): string {
  const failed = conntrack['insert_failed'] ?? 0;
  const resolved = conntrack['clashres'];
  if (resolved === undefined) {
    // Before 5.10 insert_failed counts resolved clashes too: never call it "dropped".
    const rc = raceCounter(conntrack);
    const drop = conntrack['drop'];
    const head = `this kernel has no clashres column (before 5.10): insert_failed (+${failed}) counts resolved clashes too`;
    if (rc.counter === 'min(insert_failed, drop)') {
      const atLeast = resolvedClashes(conntrack) ?? 0;
      return `${head}; with drop +${drop ?? 0}, at most ${rc.drops} clashing packets were dropped` + (atLeast > 0 ? ` and at least ${atLeast} clashes were resolved` : '');
    }
    return `${head}, and without a drop column nothing tells a dropped clash from a resolved one`;
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
  const rc = raceCounter(v.conntrack);
  if (v.lookups === 0) return { verdict: 'invalid', reason: 'no lookup was made' };
  // A UDP clash the kernel resolved also bumps insert_failed before 5.10: without drop to bound it, no race drop can be told.
  if (rc.counter === null || rc.includesResolved) {
    return {
      verdict: 'invalid',
      reason:
        rc.counter === null
          ? "this kernel's conntrack stats have neither an insert_failed nor a drop column: a race drop cannot be told from any other loss"
          : 'this kernel has insert_failed but neither a clashres nor a drop column: insert_failed also counts clashes the kernel resolved, so no race drop can be told',
    };
  }
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
    return { verdict: 'reproduced', reason: `${a.conntrackRace} of ${a.lostSyns} lost queries are matched by conntrack ${rc.label}; ${clash}${rest}` };
  }
  const unexplained = a.unexplained > 0 ? ` (${a.unexplained} lost queries seen, none matched by ${rc.label})` : '';
  const resolved = resolvedClashes(v.conntrack) ?? 0;
  if (resolved > 0) {
    return {
      verdict: 'race-resolved',
      reason:
        `the race happened and the kernel resolved it: ${clash}, and no lookup was lost to it — ` +
        `this kernel races here and hides it (an older kernel, or one without clash resolution for this path, would drop the query)${unexplained}`,
    };
  }
  const needed = attemptsToRuleOut(v.detectRatePer100k);
  if (v.lookups >= needed) {
    return { verdict: 'not-reproduced', reason: `no lookup lost to the race in ${v.lookups}: a rate of ${v.detectRatePer100k} per 100 000 or more is ${ruledOutPhrase(v.lookups)}; ${clash}${unexplained}` };
  }
  return { verdict: 'inconclusive', reason: `no lookup lost to the race in ${v.lookups}, too few to rule out ${v.detectRatePer100k} per 100 000 (${RULE_OUT_BOUND}; needs ${needed}); ${clash}${unexplained}` };
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

    const timing = resolverTiming(input);
    const sig = countBands(h, timing.timeoutMs, timing.attempts);
    const lostQueries = sig.bands.reduce((s, b) => s + b.lostSyns * b.count, 0) + timeouts * timing.attempts;
    const serverDrops = dnsServerDrops(input.counters.server);
    const clientDrops = input.counters.clients['UdpRcvbufErrors'] ?? 0;
    const stalledLookups = sig.bands.reduce((s, b) => s + b.count, 0) + timeouts;
    const attribution = attributeLostQueries(lostQueries, input.counters.conntrack, serverDrops + clientDrops, stalledLookups);
    const { verdict, reason } = decideDnsVerdict({
      lookups, attribution, serverDrops, clientDrops, harnessFailures, conntrack: input.counters.conntrack, detectRatePer100k: input.detectRatePer100k,
    });

    const notes = [...(input.notes ?? [])];
    if (timing.source === 'resolv.conf' && (timing.timeoutMs !== input.timeoutMs || timing.attempts !== input.attempts)) {
      notes.push(
        `the clients' resolv.conf says timeout ${timing.timeoutMs / 1000} s and ${timing.attempts} attempts (as glibc reads it), ` +
          `not the configured ${input.timeoutMs / 1000} s and ${input.attempts}: the bands follow the resolv.conf`,
      );
    }
    notes.push(`${clashSentence(input.counters.conntrack)}`);
    const rc = raceCounter(input.counters.conntrack);
    const race = rc.drops;
    if (race > attribution.conntrackRace) {
      notes.push(`${rc.label} rose by ${race}, more than the ${lostQueries} lost queries seen: a lost query retried within its lookup's first try, or other traffic of this host`);
    }
    const retries = sum((c) => c.retries);
    const queries = sum((c) => c.queriesSent);
    if (queries > 0) notes.push(`${queries} queries sent, ${retries} of them retries after a ${timing.timeoutMs / 1000} s timeout`);
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
      resolver: timing,
    };
  } finally {
    h.destroy();
  }
}
