import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { run } from './exec.js';
import { iptablesInfo } from './iptables.js';
import { readConntrackStat } from './conntrackStat.js';
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
  // The SYN retransmit schedule: linear timeouts exist since 6.5 (absent before: doubling from 1 s).
  'net.ipv4.tcp_syn_retries',
  'net.ipv4.tcp_syn_linear_timeouts',
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

export async function collectEnvironment(backend: 'netns' | 'docker', docker: { version: string } | null = null): Promise<EnvironmentInfo> {
  const pkg = await packageInfo();
  const [ipt, commit, columns] = await Promise.all([
    iptablesInfo().catch(() => ({ version: 'not found', backend: 'none' })),
    gitCommit(pkg.root),
    readConntrackStat().then((s) => s.columns).catch(() => [] as string[]),
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
    conntrackColumns: columns,
    node: process.version,
    harness: { name: pkg.name, version: pkg.version, commit },
    backend,
    docker,
  };
}
