import os from 'node:os';
import { errorMessage } from '../../errors.js';
import { ConntrackStatsError, readConntrackStatIn, type ConntrackStatReading, type ConntrackStatsSource } from '../../host/conntrackStat.js';
import { readKernelVersion } from '../../host/environment.js';
import type { KernelVersion } from '../../types.js';
import { netnsLabel, readFileIn, type NetnsRef } from '../../host/exec.js';
import { readResolvers, type ResolverConfig } from '../../host/resolvers.js';
import { readRulesets, type RulesetRead } from '../../host/rulesets.js';
import { readVxlanDevices, type VxlanRead } from '../../host/vxlanDevices.js';
import type { TableFacts } from './conntrackFindings.js';

/** Everything audit reads from a node, read only, before any rule looks at it. */
export interface AuditFacts {
  netns: string;
  /** `uname -r`. */
  kernelRelease: string;
  /** Its upstream version, as far as the machine says (host/kernelVersion.ts). */
  kernelVersion: KernelVersion;
  rulesets: RulesetRead[];
  vxlan: VxlanRead;
  conntrack: { reading: ConntrackStatReading } | { reasons: Partial<Record<ConntrackStatsSource, string>> };
  table: TableFacts;
  syn: { retries: string | null; linear: string | null };
  resolvers: ResolverConfig[];
  /** Files or sysctls that could not be read: path -> why. */
  unreadable: Record<string, string>;
}

export const SYSCTL = {
  count: '/proc/sys/net/netfilter/nf_conntrack_count',
  max: '/proc/sys/net/netfilter/nf_conntrack_max',
  buckets: '/proc/sys/net/netfilter/nf_conntrack_buckets',
  retries: '/proc/sys/net/ipv4/tcp_syn_retries',
  linear: '/proc/sys/net/ipv4/tcp_syn_linear_timeouts',
} as const;

/** The command whose failure is recorded for the VXLAN devices. */
export const VXLAN_READ = 'ip -d link show type vxlan';

export async function collectAuditFacts(ns: NetnsRef): Promise<AuditFacts> {
  const unreadable: Record<string, string> = {};
  // A file that is absent by design (no linear timeouts before 6.5, no conntrack sysctls before nf_conntrack loads)
  // is null; any other failure is recorded.
  const sysctl = async (path: string, absentIsNormal: boolean): Promise<string | null> => {
    try {
      return (await readFileIn(ns, path)).trim();
    } catch (err) {
      const msg = errorMessage(err);
      if (!(absentIsNormal && /No such file|ENOENT/.test(msg))) unreadable[path] = msg;
      return null;
    }
  };
  const num = (v: string | null): number | null => (v !== null && /^\d+$/.test(v) ? Number(v) : null);
  const [rulesets, vxlan, conntrack, count, max, buckets, retries, linear, resolvers, kernelVersion] = await Promise.all([
    readRulesets(ns),
    readVxlanDevices(ns),
    readConntrackStatIn(ns).then(
      (reading) => ({ reading }),
      (err: unknown) => ({ reasons: err instanceof ConntrackStatsError ? err.reasons : { procfs: errorMessage(err) } }),
    ),
    sysctl(SYSCTL.count, true),
    sysctl(SYSCTL.max, true),
    sysctl(SYSCTL.buckets, true),
    sysctl(SYSCTL.retries, false),
    sysctl(SYSCTL.linear, true),
    readResolvers(ns),
    // One kernel for every namespace: the host's /proc/version is the one to read.
    readKernelVersion(),
  ]);
  if (vxlan.error) unreadable[VXLAN_READ] = vxlan.error;
  return {
    netns: netnsLabel(ns),
    kernelRelease: os.release(),
    kernelVersion,
    rulesets,
    vxlan,
    conntrack,
    table: { count: num(count), max: num(max), buckets: num(buckets) },
    syn: { retries, linear },
    resolvers,
    unreadable,
  };
}
