import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HOST_NETNS, run, type NetnsRef } from './exec.js';
import { iptablesInfo } from './iptables.js';
import { readConntrackStatIn } from './conntrackStat.js';
import type { EnvironmentInfo } from '../types.js';

/** Conntrack and NAT sysctls that change what a run can show. */
export const CONNTRACK_SYSCTLS = [
  'net.netfilter.nf_conntrack_max',
  'net.netfilter.nf_conntrack_buckets',
  'net.netfilter.nf_conntrack_count',
  'net.netfilter.nf_conntrack_tcp_loose',
  'net.netfilter.nf_conntrack_tcp_be_liberal',
  'net.netfilter.nf_conntrack_tcp_timeout_close',
  'net.netfilter.nf_conntrack_tcp_timeout_time_wait',
  'net.netfilter.nf_conntrack_tcp_timeout_syn_sent',
  'net.netfilter.nf_conntrack_udp_timeout',
  'net.netfilter.nf_conntrack_udp_timeout_stream',
  'net.ipv4.ip_local_port_range',
] as const;

async function readSysctl(key: string): Promise<string | null> {
  try {
    return (await readFile(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8')).trim().replace(/\s+/g, ' ');
  } catch {
    return null;
  }
}

export async function packageInfo(): Promise<{ name: string; version: string; root: string }> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const pkg = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as { name: string; version: string };
  return { name: pkg.name, version: pkg.version, root };
}

async function gitCommit(root: string): Promise<string | null> {
  try {
    const r = await run('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { check: false, timeoutMs: 3000 });
    return r.code === 0 ? r.stdout.trim() : null;
  } catch {
    return null;
  }
}

/** "6.18.44-fc-v782" -> "6.18.44" */
export function kernelVersionOf(release: string): string {
  return /^(\d+\.\d+(?:\.\d+)?)/.exec(release)?.[1] ?? release;
}

/** `statsNs`: the namespace whose conntrack stats the run reads (where its NAT happens). */
export async function collectEnvironment(
  backend: 'netns' | 'docker',
  docker: { version: string } | null = null,
  statsNs: NetnsRef = HOST_NETNS,
): Promise<EnvironmentInfo> {
  const pkg = await packageInfo();
  const [ipt, commit, stats] = await Promise.all([
    iptablesInfo().catch(() => ({ version: 'not found', backend: 'none' })),
    gitCommit(pkg.root),
    // A kernel without either source is recorded as such; the run's own reads fail loudly later.
    readConntrackStatIn(statsNs).then(
      (r) => ({ columns: r.stat.columns, source: r.source }),
      () => ({ columns: [] as string[], source: 'none' as const }),
    ),
  ]);
  const sysctls: Record<string, string> = {};
  for (const k of CONNTRACK_SYSCTLS) {
    const v = await readSysctl(k);
    if (v !== null) sysctls[k] = v;
  }
  const release = os.release();
  return {
    kernel: release,
    kernelVersion: kernelVersionOf(release),
    os: `${os.type()} ${os.version()}`,
    arch: os.arch(),
    cpus: os.cpus().length,
    iptables: ipt,
    conntrackSysctls: sysctls,
    conntrackColumns: stats.columns,
    conntrackStatsSource: stats.source,
    node: process.version,
    harness: { name: pkg.name, version: pkg.version, commit },
    backend,
    docker,
  };
}
