import type { Finding } from './findings.js';

/**
 * When a connect that lost its first n SYNs completes, from the sysctls (net/ipv4/tcp_timer.c): the first
 * retransmit after 1 s; since 6.5 the first tcp_syn_linear_timeouts + 1 intervals stay 1 s, then each doubles; the
 * kernel gives up after tcp_syn_retries + tcp_syn_linear_timeouts retransmits or past tcp_model_timeout. No
 * tcp_syn_linear_timeouts file: a kernel before 6.5, doubling from the start.
 */
export function synCompletionsMs(retries: number, linear: number): { completionMs: number[]; giveUpMs: number } {
  const rtoMax = 120_000;
  const thresh = Math.floor(Math.log2(rtoMax / 1000));
  const model = retries <= thresh ? (2 ** (retries + 1) - 1) * 1000 : (2 ** (thresh + 1) - 1) * 1000 + (retries - thresh) * rtoMax;
  const completionMs: number[] = [];
  let rto = 1000;
  let t = 0;
  for (;;) {
    t += rto;
    if (completionMs.length >= retries + linear || (completionMs.length > 0 && t >= model)) break;
    completionMs.push(t);
    if (completionMs.length > linear) rto = Math.min(rto * 2, rtoMax);
  }
  return { completionMs, giveUpMs: t };
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** syn-schedule: this kernel's SYN retransmit schedule, so a stall's duration can be read as lost SYNs. */
export function synScheduleFindings(sysctls: { retries: string | null; linear: string | null }): Finding[] {
  const count = (v: string | null): number | null => (v !== null && /^\d+$/.test(v.trim()) ? Number(v.trim()) : null);
  const retries = count(sysctls.retries) ?? 6;
  const linear = count(sysctls.linear) ?? 0;
  const { completionMs, giveUpMs } = synCompletionsMs(retries, linear);
  const shown = completionMs.slice(0, 8).map(seconds).join(', ');
  return [
    {
      id: 'syn-schedule',
      severity: 'info',
      subject: '',
      title: `a connect that lost 1, 2, 3 ... SYNs completes after ${shown}${completionMs.length > 8 ? ' ...' : ''}; it gives up after ${seconds(giveUpMs)}`,
      evidence: [
        `net.ipv4.tcp_syn_retries = ${sysctls.retries?.trim() ?? '(not read: 6 assumed)'}`,
        `net.ipv4.tcp_syn_linear_timeouts = ${sysctls.linear?.trim() ?? '(absent: kernel before 6.5, exponential backoff)'}`,
      ],
      why: 'Stalls of exactly these durations are lost SYNs (the race, or any other drop); other durations are something else (a slow server, an application timeout).',
      fix: 'nothing to change; compare your stall durations with this list',
    },
  ];
}
