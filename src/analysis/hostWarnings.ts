import type { EnvironmentInfo } from '../types.js';

/**
 * Conditions of the host that change what a run means, said out loud rather than papered over:
 * a legacy iptables backend, conntrack stats without the columns the attribution reads, a conntrack
 * table close to full (early drops then look like losses).
 */
export function hostWarnings(env: EnvironmentInfo): string[] {
  const out: string[] = [];
  if (env.iptables.backend !== 'nf_tables') {
    out.push(
      `iptables uses the ${env.iptables.backend} backend, not nf_tables: the rules behave the same, but on a host that also runs nft rules the two sets are evaluated separately`,
    );
  }
  const cols = env.conntrackColumns;
  if (cols.length > 0 && !cols.includes('insert_failed')) {
    out.push(
      cols.includes('drop')
        ? "this kernel's conntrack stats have no insert_failed column: race drops are read from drop, which also counts table-full drops"
        : "this kernel's conntrack stats have neither insert_failed nor drop: no run can attribute a lost SYN to the race",
    );
  }
  if (cols.length > 0 && !cols.includes('clashres')) {
    out.push('no clashres column (kernels before 5.10): insert_failed also counts clashes the kernel resolved, so race drops are read as min(insert_failed, drop)');
  }
  const count = Number(env.conntrackSysctls['net.netfilter.nf_conntrack_count']);
  const max = Number(env.conntrackSysctls['net.netfilter.nf_conntrack_max']);
  if (Number.isFinite(count) && Number.isFinite(max) && max > 0 && count / max > 0.8) {
    out.push(`the conntrack table is ${Math.round((count / max) * 100)} % full (${count} of ${max}): early drops will look like lost packets`);
  }
  return out;
}
