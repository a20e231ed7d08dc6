import type { SynSchedule } from '../types.js';

/**
 * The kernel's SYN retransmit schedule, modelled on net/ipv4/tcp_timer.c (6.5+, commit ccce324dabfe "tcp: make the
 * first N SYN RTO backoffs linear"):
 * - tcp_connect() sends the SYN, stamps retrans_stamp and arms the retransmit timer with the initial RTO
 *   (TCP_TIMEOUT_INIT, 1 s).
 * - Each time the timer fires, tcp_write_timeout() gives up when icsk_retransmits >= tcp_syn_retries +
 *   tcp_syn_linear_timeouts (SYN_SENT only), or when retransmits_timed_out() finds the time since retrans_stamp
 *   at least tcp_model_timeout(tcp_syn_retries, initial RTO); otherwise tcp_retransmit_timer() resends the SYN,
 *   increments icsk_retransmits and icsk_backoff, and doubles the RTO (capped at TCP_RTO_MAX, 120 s) only once
 *   the backoff exceeds tcp_syn_linear_timeouts (6.8, 14dd92d0a117, compares tp->total_rto instead, the same count for a SYN).
 * Before 6.5 there is no sysctl and no linear phase: the same model with 0 linear timeouts.
 */
export const TCP_TIMEOUT_INIT_MS = 1000;
export const TCP_RTO_MAX_MS = 120_000;
/** include/net/tcp.h TCP_SYN_RETRIES. */
export const DEFAULT_SYN_RETRIES = 6;
/** tcp_sk_init(): net->ipv4.sysctl_tcp_syn_linear_timeouts = 4. */
export const DEFAULT_SYN_LINEAR_TIMEOUTS = 4;

/** tcp_model_timeout(): the time `boundary` exponentially backed-off retransmits take from a base RTO. */
export function tcpModelTimeoutMs(boundary: number, rtoBaseMs: number): number {
  const linearBackoffThresh = Math.floor(Math.log2(TCP_RTO_MAX_MS / rtoBaseMs));
  if (boundary <= linearBackoffThresh) return (2 ** (boundary + 1) - 1) * rtoBaseMs;
  return (2 ** (linearBackoffThresh + 1) - 1) * rtoBaseMs + (boundary - linearBackoffThresh) * TCP_RTO_MAX_MS;
}

export interface SynScheduleParams {
  linearTimeouts: number;
  retries: number;
  initialRtoMs?: number;
  source: SynSchedule['source'];
}

/** The retransmit times and the give-up time the timer logic above produces for these settings. */
export function synSchedule(p: SynScheduleParams): SynSchedule {
  const initialRtoMs = p.initialRtoMs ?? TCP_TIMEOUT_INIT_MS;
  const maxRetransmits = p.retries + p.linearTimeouts;
  const modelTimeout = tcpModelTimeoutMs(p.retries, initialRtoMs);
  const completionMs: number[] = [];
  let rto = initialRtoMs;
  let t = 0;
  for (;;) {
    t += rto;
    const retransmits = completionMs.length;
    if (retransmits >= maxRetransmits || (retransmits > 0 && t >= modelTimeout)) break;
    completionMs.push(t);
    if (completionMs.length > p.linearTimeouts) rto = Math.min(rto * 2, TCP_RTO_MAX_MS);
  }
  return { linearTimeouts: p.linearTimeouts, retries: p.retries, initialRtoMs, completionMs, giveUpMs: t, source: p.source };
}

/** The schedule of a kernel before 6.5 with default sysctls: what analysis assumes when nobody read the client's. */
export function assumedExponentialSchedule(): SynSchedule {
  return synSchedule({ linearTimeouts: 0, retries: DEFAULT_SYN_RETRIES, source: 'assumed-exponential' });
}

/** Values as read from /proc/sys/net/ipv4/<name>; absent (null or undefined) when the file does not exist. */
export interface SynSysctls {
  tcp_syn_linear_timeouts?: string | number | null;
  tcp_syn_retries?: string | number | null;
}

function whole(name: string, v: string | number): number {
  const n = typeof v === 'number' ? v : Number(v.trim());
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`net.ipv4.${name} = "${String(v)}" is not a count`);
  return n;
}

/**
 * The schedule a client namespace uses, from its sysctls. No tcp_syn_linear_timeouts file means a kernel before 6.5:
 * exponential from the first retransmit. tcp_syn_retries exists on every kernel; its default stands in when absent.
 */
export function synScheduleFromSysctls(s: SynSysctls, initialRtoMs = TCP_TIMEOUT_INIT_MS): SynSchedule {
  const present = (v: string | number | null | undefined): v is string | number => v !== undefined && v !== null && String(v).trim() !== '';
  return synSchedule({
    linearTimeouts: present(s.tcp_syn_linear_timeouts) ? whole('tcp_syn_linear_timeouts', s.tcp_syn_linear_timeouts) : 0,
    retries: present(s.tcp_syn_retries) ? whole('tcp_syn_retries', s.tcp_syn_retries) : DEFAULT_SYN_RETRIES,
    initialRtoMs,
    source: 'sysctl',
  });
}

/**
 * SYNs an attempt had lost when a connect timeout of timeoutMs ended it: the first SYN and every retransmit sent
 * before then (all unanswered, or it would have completed); the kernel sends nothing after it gives up.
 */
export function lostSynsByTimeout(schedule: SynSchedule, timeoutMs: number): number {
  const sentBefore = schedule.completionMs.filter((t) => t < Math.min(timeoutMs, schedule.giveUpMs)).length;
  return 1 + sentBefore;
}

/** "1, 2, 3, 4, 5, 7, 11 s": the completion times in words, for band descriptions. */
export function describeSchedule(s: SynSchedule, upToMs = Infinity): string {
  const times = s.completionMs.filter((t) => t < upToMs).map((t) => t / 1000);
  const rule = s.linearTimeouts > 0 ? `${s.linearTimeouts} linear timeouts, then doubling` : 'doubling from the first retransmit';
  return `${rule} from ${s.initialRtoMs / 1000} s (${s.source}): completions at ${times.join(', ')} s`;
}
