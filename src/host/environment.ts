import os from 'node:os';
import { open, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runInNetns } from './exec.js';
import { harnessCommit } from './buildStamp.js';
import { iptablesInfo } from './iptables.js';
import { readConntrackStatIn } from './conntrackStat.js';
import { upstreamKernelVersion } from './kernelVersion.js';
import type { EnvironmentInfo, KernelVersion } from '../types.js';

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

/** A sysctl as the namespace `netns` sees it (null: the runner's own), or null when it does not exist there. */
async function readSysctl(key: string, netns: string | null): Promise<string | null> {
  const file = `/proc/sys/${key.replace(/\./g, '/')}`;
  try {
    const text = netns === null ? await readFile(file, 'utf8') : (await runInNetns(netns, 'cat', [file])).stdout;
    return text.trim().replace(/\s+/g, ' ');
  } catch {
    return null;
  }
}

export async function packageInfo(): Promise<{ name: string; version: string; root: string }> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const pkg = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as { name: string; version: string };
  return { name: pkg.name, version: pkg.version, root };
}

/** What `repro --version` prints: the version and the commit it was built from. */
export async function harnessVersion(): Promise<string> {
  const pkg = await packageInfo();
  return `${pkg.version} (${(await harnessCommit(pkg.root)) ?? 'commit unknown'})`;
}

/** A /proc file that need not exist (version_signature: Ubuntu only): its head, or null. */
async function readProcText(file: string): Promise<string | null> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * The running kernel's upstream version (host/kernelVersion.ts): /proc/version_signature, /proc/version, `uname -r`.
 * `debPackageVersion`: the Version of the kernel package it was booted from, when known (a `--kernel` guest).
 */
export async function readKernelVersion(debPackageVersion: string | null = null): Promise<KernelVersion> {
  const [procVersion, versionSignature] = await Promise.all([readProcText('/proc/version'), readProcText('/proc/version_signature')]);
  return upstreamKernelVersion({ release: os.release(), procVersion, versionSignature, debPackageVersion });
}

/**
 * The environment block of a result. `natNetns`: the namespace where the NAT under test runs (the netns backend's
 * router); its conntrack sysctls and stats (columns, source) are read there. null: the host's (docker, or no run).
 */
export async function collectEnvironment(
  backend: 'netns' | 'docker', docker: { version: string } | null = null, natNetns: string | null = null,
): Promise<EnvironmentInfo> {
  const pkg = await packageInfo();
  const [ipt, commit, stats, kernelVersion] = await Promise.all([
    iptablesInfo().catch(() => ({ version: 'not found', backend: 'none' })),
    harnessCommit(pkg.root),
    // A kernel without either source is recorded as such; the run's own reads fail loudly later.
    readConntrackStatIn(natNetns === null ? { kind: 'host' } : { kind: 'netns', name: natNetns }).then(
      (r) => ({ columns: r.stat.columns, source: r.source }),
      () => ({ columns: [] as string[], source: 'none' as const }),
    ),
    readKernelVersion(),
  ]);
  const sysctls: Record<string, string> = {};
  for (const k of CONNTRACK_SYSCTLS) {
    // The clients' port range is theirs, not the NAT's: read where the run sets it, not here.
    const v = await readSysctl(k, k === 'net.ipv4.ip_local_port_range' ? null : natNetns);
    if (v !== null) sysctls[k] = v;
  }
  const release = os.release();
  return {
    kernel: release,
    kernelVersion,
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
    natNamespace: natNetns,
  };
}
