import type { Finding } from './findings.js';
import { synSchedule } from '../../analysis/synSchedule.js';

/** When a connect that lost its first n SYNs completes, and when the kernel gives up (src/analysis/synSchedule.ts). */
export function synCompletionsMs(retries: number, linear: number): { completionMs: number[]; giveUpMs: number } {
  const s = synSchedule({ retries, linearTimeouts: linear, source: 'sysctl' });
  return { completionMs: s.completionMs, giveUpMs: s.giveUpMs };
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
