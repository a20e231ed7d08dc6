import type { Attribution, SignatureBand, Verdict, ModeResult } from '../types.js';

/** The kernel's names for the counters that explain a lost SYN. */
export const RACE_COUNTER = 'insert_failed';
export const SERVER_COUNTERS = ['TcpExtListenOverflows', 'TcpExtListenDrops'] as const;

export interface AttributionInput {
  bands: readonly SignatureBand[];
  /** Attempts that hit the harness's connect timeout, and how many SYNs each had lost by then. */
  timeouts: number;
  lostSynsPerTimeout: number;
  conntrack: Record<string, number>;
  server: Record<string, number>;
  /** Clients' TcpExtTCPSynRetrans: a stall without a SYN retransmit is scheduling, not a lost SYN. */
  synRetrans?: number;
}

/** Race drops the conntrack counters show: insert_failed (drop where a kernel lacks it). */
export function raceDrops(conntrack: Record<string, number>): number {
  return conntrack[RACE_COUNTER] ?? conntrack['drop'] ?? 0;
}

/** SYNs the server's listener dropped (ListenDrops includes ListenOverflows on Linux; take the larger). */
export function serverDrops(server: Record<string, number>): number {
  return Math.max(...SERVER_COUNTERS.map((k) => server[k] ?? 0));
}

/** Lost SYNs the latencies show: n per attempt in the n-lost-SYNs band, plus those of timed-out attempts. */
export function observedLostSyns(input: Pick<AttributionInput, 'bands' | 'timeouts' | 'lostSynsPerTimeout'>): number {
  return input.bands.reduce((s, b) => s + b.lostSyns * b.count, 0) + input.timeouts * input.lostSynsPerTimeout;
}

/**
 * Split the lost SYNs the latencies show between the causes the counters prove.
 * The conntrack race is credited first, the server's overflows next; what is left is unexplained
 * and is never reported as the race.
 */
export function attribute(input: AttributionInput): Attribution {
  const lostSyns = Math.min(observedLostSyns(input), input.synRetrans ?? Infinity);
  const conntrackRace = Math.min(lostSyns, raceDrops(input.conntrack));
  const serverOverload = Math.min(lostSyns - conntrackRace, serverDrops(input.server));
  return { unit: 'lost-syn', lostSyns, conntrackRace, serverOverload, unexplained: lostSyns - conntrackRace - serverOverload };
}

/** Smallest number of attempts with zero events that rules out a rate of ratePer100k at 95 % (rule of three). */
export function attemptsToRuleOut(ratePer100k: number): number {
  return Math.ceil((-Math.log(0.05) * 100_000) / ratePer100k);
}

/** Upper 95 % bound on the event rate per 100 000 attempts when zero events were seen in n attempts. */
export function detectableRatePer100k(attempts: number): number {
  if (attempts <= 0) return Infinity;
  return (-Math.log(0.05) / attempts) * 100_000;
}

export interface VerdictInput {
  attempts: number;
  attribution: Attribution;
  serverDrops: number;
  /** Failed attempts whose cause is the harness or the topology, not a lost SYN (refused, no port, reset...). */
  harnessFailures: number;
  conntrackRaceDrops: number;
  detectRatePer100k: number;
  /** False when the kernel's conntrack stats have neither insert_failed nor drop. */
  raceCounterAvailable?: boolean;
}

export interface VerdictOutcome {
  verdict: Verdict;
  reason: string;
}

/** Fraction of attempts that may fail for harness reasons before the run is invalid. */
export const HARNESS_FAILURE_LIMIT = 0.001;

export function decideVerdict(v: VerdictInput): VerdictOutcome {
  const a = v.attribution;
  if (v.attempts === 0) return { verdict: 'invalid', reason: 'no connect attempt was made' };
  if (v.raceCounterAvailable === false) {
    return {
      verdict: 'invalid',
      reason: "this kernel's /proc/net/stat/nf_conntrack has neither an insert_failed nor a drop column: a race drop cannot be told from any other loss",
    };
  }
  if (v.serverDrops > 0) {
    return {
      verdict: 'invalid',
      reason: `the harness's server dropped ${v.serverDrops} SYNs (ListenOverflows/ListenDrops): the server was a bottleneck, so stalls cannot be pinned on the race`,
    };
  }
  if (v.harnessFailures > v.attempts * HARNESS_FAILURE_LIMIT) {
    return {
      verdict: 'invalid',
      reason: `${v.harnessFailures} attempts failed for reasons other than a lost SYN (more than ${HARNESS_FAILURE_LIMIT * 100} % of attempts)`,
    };
  }
  if (a.conntrackRace > 0) {
    const rest = a.unexplained > 0 ? `; ${a.unexplained} more lost SYNs are explained by no counter` : '';
    return {
      verdict: 'reproduced',
      reason: `${a.conntrackRace} of ${a.lostSyns} lost SYNs are matched by conntrack insert_failed (+${v.conntrackRaceDrops})${rest}`,
    };
  }
  const needed = attemptsToRuleOut(v.detectRatePer100k);
  const unexplained = a.unexplained > 0 ? ` (${a.unexplained} lost SYNs seen, none matched by insert_failed)` : '';
  const stray = v.conntrackRaceDrops > 0 && a.lostSyns === 0 ? ` (insert_failed +${v.conntrackRaceDrops} without any stalled connect: other traffic on this host?)` : '';
  if (v.attempts >= needed) {
    return {
      verdict: 'not-reproduced',
      reason: `no race drop in ${v.attempts} attempts: a race rate of ${v.detectRatePer100k} per 100 000 or more is ruled out at 95 %${unexplained}${stray}`,
    };
  }
  return {
    verdict: 'inconclusive',
    reason: `no race drop in ${v.attempts} attempts, too few to rule out ${v.detectRatePer100k} per 100 000: needs at least ${needed}${unexplained}${stray}`,
  };
}

const PRECEDENCE: Verdict[] = ['reproduced', 'invalid', 'inconclusive', 'not-reproduced'];

/** Run verdict: reproduced if any mode reproduced; else the worst of the rest. */
export function overallVerdict(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.length === 0) return 'invalid';
  for (const v of PRECEDENCE) if (verdicts.includes(v)) return v;
  return 'invalid';
}

/** A mode whose conditions changed under it (its rules removed or edited mid-mode): its counts say nothing. */
export function invalidated(m: ModeResult, what: string): ModeResult {
  return { ...m, verdict: 'invalid', reason: `${what}, so this mode's counts do not say what it does (it was: ${m.verdict} — ${m.reason})` };
}
