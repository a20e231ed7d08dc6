import type { ExecResult } from '../../host/exec.js';
import { synScheduleFromSysctls } from '../../analysis/synSchedule.js';
import type { SynSchedule } from '../../types.js';

const SYN_SYSCTLS = ['tcp_syn_linear_timeouts', 'tcp_syn_retries'] as const;

/**
 * The SYN retransmit schedule the clients' kernel applies, read in each client's own network namespace (the
 * sysctls are per namespace). A file that is not there is a kernel without it (tcp_syn_linear_timeouts: before
 * 6.5). Clients that disagree are an error: one schedule decides every band of the mode.
 */
export async function readSynSchedule<H extends { name: string }>(
  clients: readonly H[], exec: (client: H, cmd: string, args: readonly string[]) => Promise<ExecResult>,
): Promise<SynSchedule> {
  const schedules = await Promise.all(
    clients.map(async (c) => {
      const values: Partial<Record<(typeof SYN_SYSCTLS)[number], string>> = {};
      for (const key of SYN_SYSCTLS) {
        const r = await exec(c, 'cat', [`/proc/sys/net/ipv4/${key}`]).catch(() => null);
        if (r && r.code === 0) values[key] = r.stdout.trim();
      }
      return { client: c.name, schedule: synScheduleFromSysctls(values) };
    }),
  );
  const first = schedules[0];
  if (!first) throw new Error('readSynSchedule: no client to read');
  for (const s of schedules) {
    if (s.schedule.linearTimeouts !== first.schedule.linearTimeouts || s.schedule.retries !== first.schedule.retries) {
      throw new Error(`the clients' SYN schedules differ (${first.client}: ${JSON.stringify(first.schedule)}; ${s.client}: ${JSON.stringify(s.schedule)})`);
    }
  }
  return first.schedule;
}
