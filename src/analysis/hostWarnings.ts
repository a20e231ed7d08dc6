import type { EnvironmentInfo, HostWarning } from '../types.js';

/**
 * Conditions of the host that change what a run means, said out loud rather than papered over:
 * a legacy iptables backend, conntrack stats without the columns the attribution reads, a conntrack
 * table close to full (early drops then look like losses).
 */
export function typedHostWarnings(env: EnvironmentInfo): HostWarning[] {
  const out: HostWarning[] = [];
  if (env.iptables.backend !== 'nf_tables') {
    out.push(warn(
      'legacy-iptables',
      `iptables uses the ${env.iptables.backend} backend, not nf_tables: the rules behave the same, but on a host that also runs nft rules the two sets are evaluated separately`,
    ));
  }
  const cols = env.conntrackColumns;
  if (env.conntrackStatsSource === 'none') {
    out.push(warn('conntrack-stats-unreadable', "neither /proc/net/stat/nf_conntrack nor ctnetlink (conntrack -S) could be read where the NAT runs: the run has no race counter, and the column checks above could not be made"));
  }
  if (cols.length > 0 && !cols.includes('insert_failed')) {
    out.push(
      cols.includes('drop')
        ? warn('no-insert-failed', "this kernel's conntrack stats have no insert_failed column: race drops are read from drop, which also counts table-full drops")
        : warn('no-race-counter', "this kernel's conntrack stats have neither insert_failed nor drop: no run can attribute a lost SYN to the race"),
    );
  }
  if (cols.length > 0 && !cols.includes('clashres')) {
    out.push(warn('no-clashres', 'no clashres column (kernels before 5.10): insert_failed also counts clashes the kernel resolved, so race drops are read as min(insert_failed, drop)'));
  }
  const count = Number(env.conntrackSysctls['net.netfilter.nf_conntrack_count']);
  const max = Number(env.conntrackSysctls['net.netfilter.nf_conntrack_max']);
  if (Number.isFinite(count) && Number.isFinite(max) && max > 0 && count / max > 0.8) {
    out.push(warn('conntrack-table-full', `the conntrack table is ${Math.round((count / max) * 100)} % full (${count} of ${max}): early drops will look like lost packets`));
  }
  return out;
}

function warn(id: HostWarning['id'], message: string): HostWarning {
  return { id, message };
}

/** The warnings' sentences alone. */
export function hostWarnings(env: EnvironmentInfo): string[] {
  return typedHostWarnings(env).map((w) => w.message);
}
