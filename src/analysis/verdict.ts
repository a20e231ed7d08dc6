import { binomialSf, poissonInterval } from './exactStats.js';
import type { Attribution, ModeBackground, SignatureBand, Verdict, ModeResult } from '../types.js';

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

/** Which conntrack counter a mode's race drops were read from, and what that reading is worth. */
export interface RaceCounter {
  drops: number;
  /** The column (or rule) read; null when the kernel has neither insert_failed nor drop. */
  counter: 'insert_failed' | 'drop' | 'min(insert_failed, drop)' | null;
  /** The counter as a reason names it: the column whose value was taken. */
  label: string;
  /**
   * True when the reading may include clashes the kernel resolved: before 5.10 (no clashres column) insert_failed
   * is also bumped by a resolved clash (__nf_ct_resolve_clash), and without drop nothing tells the two apart.
   */
  includesResolved: boolean;
}

/**
 * Race drops the conntrack counters show. Since 5.10 (clashres column, bc92470413f3) insert_failed counts only
 * clashes that cost the packet. Before it, a resolved clash bumps insert_failed too, and only unresolved ones bump
 * drop as well (71d8c47fc653: "the drop counter is bumped whenever we drop packets"), so the race drops are
 * min(insert_failed, drop) (drop alone also counts other drops, e.g. a full table).
 */
export function raceCounter(conntrack: Record<string, number>): RaceCounter {
  const failed = conntrack[RACE_COUNTER];
  const drop = conntrack['drop'];
  const none: RaceCounter = { drops: 0, counter: null, label: 'no race counter', includesResolved: false };
  if ('clashres' in conntrack) {
    if (failed !== undefined) return { drops: failed, counter: 'insert_failed', label: 'insert_failed', includesResolved: false };
    if (drop !== undefined) return { drops: drop, counter: 'drop', label: 'drop', includesResolved: false };
    return none;
  }
  if (failed !== undefined && drop !== undefined) {
    const label = failed <= drop ? 'insert_failed' : 'drop (insert_failed also counts resolved clashes on this kernel)';
    return { drops: Math.min(failed, drop), counter: 'min(insert_failed, drop)', label, includesResolved: false };
  }
  if (failed !== undefined) return { drops: failed, counter: 'insert_failed', label: 'insert_failed', includesResolved: true };
  if (drop !== undefined) return { drops: drop, counter: 'drop', label: 'drop', includesResolved: false };
  return none;
}

export function raceDrops(conntrack: Record<string, number>): number {
  return raceCounter(conntrack).drops;
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
 * SYN retransmits the stalls imply: n per attempt in the n-lost-SYNs band (its n-th retransmit was answered), and
 * one fewer than its lost SYNs per timed-out attempt (the last SYN it sent was never retransmitted: the connect
 * timeout, or the kernel's own give-up, ended it first).
 */
export function impliedSynRetransmits(input: Pick<AttributionInput, 'bands' | 'timeouts' | 'lostSynsPerTimeout'>): number {
  return input.bands.reduce((s, b) => s + b.lostSyns * b.count, 0) + input.timeouts * Math.max(0, input.lostSynsPerTimeout - 1);
}

/**
 * Confirmed losses, in SYNs and in attempts. A timed-out attempt is a stall by definition (no SYN was answered in
 * the timeout) and its lost SYNs are counted from the kernel's schedule. A band's stall is confirmed only as far as
 * the clients' SYN retransmits (TcpExtTCPSynRetrans) cover it after the timeouts' share: a stall without a
 * retransmit is scheduling, not a lost SYN. Attempts are confirmed fewest-lost-SYNs first (each needs its n retransmits).
 */
export function confirmedLosses(input: Pick<AttributionInput, 'bands' | 'timeouts' | 'lostSynsPerTimeout' | 'synRetrans'>): {
  lostSyns: number;
  stalled: number;
  neverRetransmitted: number;
} {
  const timeoutRetransmits = input.timeouts * Math.max(0, input.lostSynsPerTimeout - 1);
  let left = input.synRetrans === undefined ? Infinity : Math.max(0, input.synRetrans - timeoutRetransmits);
  const bandLost = input.bands.reduce((s, b) => s + b.lostSyns * b.count, 0);
  const lostSyns = input.timeouts * input.lostSynsPerTimeout + Math.min(bandLost, left);
  let stalled = input.timeouts;
  for (const b of [...input.bands].filter((x) => x.lostSyns > 0).sort((x, y) => x.lostSyns - y.lostSyns)) {
    const k = Math.min(b.count, Math.floor(left / b.lostSyns));
    stalled += k;
    left -= k * b.lostSyns;
  }
  return { lostSyns, stalled, neverRetransmitted: input.timeouts > 0 && input.lostSynsPerTimeout > 0 ? input.timeouts : 0 };
}

/**
 * What the SYN counts say beside the attribution: timed-out connects' losses counted from the schedule (and their
 * last SYN, never retransmitted), and band stalls the retransmit counter does not confirm. `who` names the senders.
 */
export function synLossNotes(input: Pick<AttributionInput, 'bands' | 'timeouts' | 'lostSynsPerTimeout' | 'synRetrans'>, who = 'the clients'): string[] {
  const notes: string[] = [];
  const k = input.lostSynsPerTimeout;
  if (input.timeouts > 0) {
    notes.push(
      `${input.timeouts} connects timed out, each after ${k} unanswered SYNs by the kernel's retransmit schedule: ${input.timeouts * k} lost SYNs, ` +
        `${input.timeouts} of them (the last of each) never retransmitted because the connect ended first`,
    );
  }
  const implied = impliedSynRetransmits(input);
  if (input.synRetrans !== undefined && input.synRetrans < implied) {
    const bandLost = input.bands.reduce((s, b) => s + b.lostSyns * b.count, 0);
    const confirmed = confirmedLosses(input);
    const unconfirmed = bandLost - (confirmed.lostSyns - input.timeouts * k);
    notes.push(
      `the stalls imply ${implied} SYN retransmits but ${who} retransmitted only ${input.synRetrans} (TcpExtTCPSynRetrans): ` +
        `${unconfirmed} SYNs of the latency bands are not confirmed lost (scheduling delays) and are not counted`,
    );
  }
  return notes;
}

/**
 * Split the lost SYNs the latencies show between the causes the counters prove.
 * The conntrack race is credited first, the server's overflows next; what is left is unexplained
 * and is never reported as the race. Comparisons count attempts (stalled, raceStalled), not lost SYNs: one
 * timed-out connect loses 7 SYNs but is one event.
 */
export function attribute(input: AttributionInput): Attribution {
  const confirmed = confirmedLosses(input);
  const lostSyns = confirmed.lostSyns;
  const conntrackRace = Math.min(lostSyns, raceDrops(input.conntrack));
  const serverOverload = Math.min(lostSyns - conntrackRace, serverDrops(input.server));
  return {
    unit: 'lost-syn',
    lostSyns,
    conntrackRace,
    serverOverload,
    unexplained: lostSyns - conntrackRace - serverOverload,
    ...stalledAttempts(confirmed.stalled, conntrackRace),
    neverRetransmitted: confirmed.neverRetransmitted,
  };
}

/**
 * Stalled attempts, and of them those the race explains: at most one per race-matched loss, and never more than
 * stalled (a timed-out attempt whose 7 SYNs all raced is one attempt).
 */
export function stalledAttempts(stalled: number, raceLosses: number): Pick<Attribution, 'stalled' | 'raceStalled'> {
  return { stalled, raceStalled: Math.min(stalled, raceLosses) };
}

/**
 * The not-reproduced rule's bound is one-sided: with zero events in n attempts, rates above -ln(0.05)/n = 3.0/n are
 * ruled out at 95 % (the "rule of three"). The rates table's intervals are two-sided 95 % (upper 3.69/n for zero),
 * so both name which they are wherever they appear.
 */
export const RULE_OUT_BOUND = 'one-sided 95 %';

/** Smallest number of attempts with zero events that rules out a rate of ratePer100k (one-sided 95 %, rule of three). */
export function attemptsToRuleOut(ratePer100k: number): number {
  return Math.ceil((-Math.log(0.05) * 100_000) / ratePer100k);
}

/** One-sided upper 95 % bound on the event rate per 100 000 attempts when zero events were seen in n attempts. */
export function detectableRatePer100k(attempts: number): number {
  if (attempts <= 0) return Infinity;
  return (-Math.log(0.05) / attempts) * 100_000;
}

/**
 * One-sided 95 % bounds per 100 000 on a provoked race rate, k events in n attempts (exact Poisson: each side of the
 * central 90 % interval; for k = 0 the upper one is the rule of three, -ln(0.05) / n).
 */
export function provokedBounds(k: number, n: number): { lower: number; upper: number } {
  if (n <= 0) return { lower: 0, upper: Infinity };
  const ci = poissonInterval(k, 0.9);
  return { lower: (ci.lower / n) * 100_000, upper: (ci.upper / n) * 100_000 };
}

/**
 * The burst phase's question, is this rule vulnerable: vulnerable when the provoked race rate is above the detect
 * rate (its one-sided 95 % lower bound above it), not-vulnerable when it is below (upper bound below it), else
 * inconclusive. A drop or two is not "vulnerable": --random-fully can still draw one port for two SYNs released
 * together (about 1 in 64 000 racing pairs), and 1 in 10 000 provoked attempts still bounds the rate below 50.
 */
export function vulnerability(k: number, n: number, detectRatePer100k: number): 'vulnerable' | 'not-vulnerable' | 'inconclusive' {
  const b = provokedBounds(k, n);
  if (b.lower > detectRatePer100k) return 'vulnerable';
  if (b.upper < detectRatePer100k) return 'not-vulnerable';
  return 'inconclusive';
}

/** "ruled out at 95 % (one-sided: 0 in 150 000 bounds the rate at 2.0 per 100 000)" */
export function ruledOutPhrase(attempts: number): string {
  const bound = detectableRatePer100k(attempts);
  return `ruled out (${RULE_OUT_BOUND} upper bound for 0 in ${attempts}: ${Number(bound.toPrecision(3))} per 100 000; the rates table's intervals are two-sided)`;
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
  /** The counter the race drops were read from (named in the reason); insert_failed when not given. */
  raceCounterName?: string;
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
  const counter = v.raceCounterName ?? RACE_COUNTER;
  if (a.conntrackRace > 0) {
    const rest = a.unexplained > 0 ? `; ${a.unexplained} more lost SYNs are explained by no counter` : '';
    return {
      verdict: 'reproduced',
      reason: `${a.conntrackRace} of ${a.lostSyns} lost SYNs are matched by conntrack ${counter} (+${v.conntrackRaceDrops})${rest}`,
    };
  }
  const needed = attemptsToRuleOut(v.detectRatePer100k);
  const unexplained = a.unexplained > 0 ? ` (${a.unexplained} lost SYNs seen, none matched by ${counter})` : '';
  const stray = v.conntrackRaceDrops > 0 && a.lostSyns === 0 ? ` (${counter} +${v.conntrackRaceDrops} without any stalled connect: other traffic on this host?)` : '';
  if (v.attempts >= needed) {
    return {
      verdict: 'not-reproduced',
      reason: `no race drop in ${v.attempts} attempts: a race rate of ${v.detectRatePer100k} per 100 000 or more is ${ruledOutPhrase(v.attempts)}${unexplained}${stray}`,
    };
  }
  return {
    verdict: 'inconclusive',
    reason: `no race drop in ${v.attempts} attempts, too few to rule out ${v.detectRatePer100k} per 100 000 (${RULE_OUT_BOUND}): needs at least ${needed}${unexplained}${stray}`,
  };
}

/**
 * `race-resolved` ranks right after `reproduced`: it is evidence of the race too (the kernel counted it), so a run
 * where one mode shows it says so rather than a harness problem or a lack of evidence elsewhere.
 */
const PRECEDENCE: Verdict[] = ['reproduced', 'vulnerable', 'race-resolved', 'invalid', 'inconclusive', 'not-reproduced', 'not-vulnerable'];

/** Run verdict: reproduced if any mode reproduced, race-resolved if any mode showed the race resolved; else the worst of the rest. */
export function overallVerdict(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.length === 0) return 'invalid';
  for (const v of PRECEDENCE) if (verdicts.includes(v)) return v;
  return 'invalid';
}

/**
 * A run's verdict. With a burst phase (tcp-syn's default runs burst, then steady) it answers the first question, is
 * the rule vulnerable: the burst entries' verdict, raised to `vulnerable` when the steady storm reproduced the race
 * (a workload-shaped load that loses SYNs to it proves the rule vulnerable). Otherwise the entries' overall verdict.
 */
export function runVerdict(modes: readonly Pick<ModeResult, 'verdict' | 'load'>[]): Verdict {
  const burst = modes.filter((m) => m.load === 'burst');
  if (burst.length === 0 || burst.length === modes.length) return overallVerdict(modes.map((m) => m.verdict));
  const v = overallVerdict(burst.map((m) => m.verdict));
  return v !== 'vulnerable' && modes.some((m) => m.load !== 'burst' && m.verdict === 'reproduced') ? 'vulnerable' : v;
}

/** A mode whose conditions changed under it (its rules removed or edited mid-mode): its counts say nothing. */
export function invalidated(m: ModeResult, what: string): ModeResult {
  return { ...m, verdict: 'invalid', reason: `${what}, so this mode's counts do not say what it does (it was: ${m.verdict} — ${m.reason})` };
}

/**
 * Clashes the kernel resolved: its clashres column; before 5.10 (no column) at least insert_failed - drop, since there
 * every clash bumps insert_failed and only an unresolved one bumps drop too. Null when nothing tells.
 */
export function resolvedClashes(conntrack: Record<string, number>): number | null {
  const resolved = conntrack['clashres'];
  if (resolved !== undefined) return resolved;
  const failed = conntrack['insert_failed'];
  const drop = conntrack['drop'];
  return failed !== undefined && drop !== undefined ? Math.max(0, failed - drop) : null;
}

/** One-sided significance level of the background test (the mode's count above the window's, scaled). */
export const BACKGROUND_ALPHA = 0.05;

/** What a background test found, for the reason and the tests. */
export interface BackgroundTest {
  /** The counter compared, read the same way in the mode and the window. */
  counter: string;
  mode: number;
  window: number;
  /** The window's count scaled to the load's length: what the host would have made alone during the load. */
  expected: number;
  /** P(mode's count >= observed | same rate), exact conditional binomial (R: pbinom(x - 1, x + y, tL / (tL + tW), lower.tail = FALSE)). */
  pValue: number;
  above: boolean;
}

/**
 * Is the mode's count larger than the host's own, scaled to the load's length? Given both counts' total m, under equal
 * rates the mode's count is Binomial(m, tLoad / (tLoad + tWindow)): one-sided exact test.
 */
export function backgroundTest(counter: string, mode: number, window: number, loadMs: number, windowMs: number): BackgroundTest {
  const m = mode + window;
  const expected = windowMs > 0 ? (window * loadMs) / windowMs : window > 0 ? Infinity : 0;
  if (m === 0) return { counter, mode, window, expected, pValue: 1, above: false };
  if (windowMs <= 0) return { counter, mode, window, expected, pValue: 1, above: false };
  const pValue = binomialSf(mode, m, loadMs / (loadMs + windowMs));
  return { counter, mode, window, expected, pValue, above: pValue < BACKGROUND_ALPHA };
}

function bgSentence(t: BackgroundTest, loadMs: number, windowMs: number): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const exp = Number.isFinite(t.expected) ? Number(t.expected.toPrecision(3)) : '∞';
  return (
    `the host's own traffic moved ${t.counter} by +${t.window} in an idle window of ${s(windowMs)}, ${exp} over the load's ${s(loadMs)}; ` +
    `the mode's +${t.mode} is ${t.above ? '' : 'not '}above that (exact conditional binomial, one-sided p = ${Number(t.pValue.toPrecision(3))})`
  );
}

/**
 * A mode read against the host's background (docker: the NAT's table is shared). The race counter's move in an idle
 * window is what the host's other traffic makes by itself; the window may be shorter than the load (it is capped),
 * so its count is scaled to the load's length by the test. Both are read in the same unit: raceCounter() (before
 * 5.10, min(insert_failed, drop), since insert_failed also counts resolved clashes there), and for dns's
 * race-resolved the resolved clashes (clashres). A count not above the background is not evidence of this mode's race.
 */
export function withBackground(m: ModeResult, bg: ModeBackground): ModeResult {
  const out: ModeResult = { ...m, background: bg };
  const loadMs = m.durationMs;
  const race = raceCounter(m.counters.conntrack);
  const bgRace = raceCounter(bg.conntrack);
  const raceLabel = race.counter !== null ? race.label : bgRace.counter !== null ? bgRace.label : 'insert_failed';
  const raceTest = backgroundTest(raceLabel, race.drops, bgRace.drops, loadMs, bg.windowMs);
  const unit = m.attribution.unit === 'lost-query' ? 'lost queries' : 'lost SYNs';
  if ((m.verdict === 'reproduced' || m.verdict === 'vulnerable') && raceTest.window > 0 && !raceTest.above) {
    return {
      ...out,
      verdict: 'inconclusive',
      reason: `${m.attribution.conntrackRace} ${unit} matched by ${raceLabel}, but ${bgSentence(raceTest, loadMs, bg.windowMs)}: not evidence of this mode's race`,
    };
  }
  const resolved = resolvedClashes(m.counters.conntrack);
  const bgResolved = resolvedClashes(bg.conntrack);
  if (m.verdict === 'race-resolved' && resolved !== null && (bgResolved ?? 0) > 0) {
    const t = backgroundTest('clashres' in m.counters.conntrack ? 'clashres' : 'resolved clashes', resolved, bgResolved ?? 0, loadMs, bg.windowMs);
    if (!t.above) {
      return { ...out, verdict: 'inconclusive', reason: `${m.reason}; but ${bgSentence(t, loadMs, bg.windowMs)}: not evidence that this mode raced` };
    }
    return { ...out, reason: `${m.reason}; background: ${bgSentence(t, loadMs, bg.windowMs)}` };
  }
  if (raceTest.window === 0) return out;
  return { ...out, reason: `${m.reason}; background: ${bgSentence(raceTest, loadMs, bg.windowMs)}` };
}
