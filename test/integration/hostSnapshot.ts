import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** What a run must leave exactly as it found: rules, namespaces, links, routes, the harness's state files. */
export interface HostSnapshot {
  iptables: string;
  netns: string[];
  links: string[];
  routes: string;
  stateFiles: string[];
  /** Host sysctls a careless harness would touch (it only sets sysctls inside its own namespaces and devices). */
  sysctls: Record<string, string>;
  /** Docker's containers, networks and images (the harness's cached agent image excepted); empty without a daemon. */
  docker: { containers: string[]; networks: string[]; images: string[] };
}

const HOST_SYSCTLS = [
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.forwarding',
  'net.ipv4.conf.default.forwarding',
  'net.core.somaxconn',
  'net.ipv4.tcp_max_syn_backlog',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_tw_reuse',
];

function readSysctl(key: string): string {
  try {
    return readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return '(absent)';
  }
}

function dockerState(): HostSnapshot['docker'] {
  const list = (args: string[]): string[] | null => {
    const r = spawnSync('docker', args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '').sort() : null;
  };
  const containers = list(['ps', '-a', '--format', '{{.Names}}']);
  if (containers === null) return { containers: [], networks: [], images: [] };
  return {
    containers,
    networks: list(['network', 'ls', '--format', '{{.Name}} {{.ID}}']) ?? [],
    images: (list(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']) ?? []).filter((i) => !i.startsWith('repro-agent:')),
  };
}

function out(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

/** iptables-save without its timestamps and packet counters, which change on their own. */
export function normalizeIptablesSave(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[]'))
    .join('\n');
}

export function hostSnapshot(): HostSnapshot {
  const links = out('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => /^\d+:\s+([^:\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '')
    .sort();
  const ls = spawnSync('ls', ['/run/repro'], { encoding: 'utf8' });
  return {
    iptables: normalizeIptablesSave(out('iptables-save', [])),
    netns: out('ip', ['netns', 'list']).split('\n').filter((l) => l.trim() !== '').sort(),
    links,
    // A route's `linkdown` follows its device's carrier (docker0 loses it when its last container goes, on Docker's
    // own time): a state, not something a run adds or leaves.
    routes: out('ip', ['-4', 'route', 'show', 'table', 'all']).replace(/ linkdown/g, ''),
    stateFiles: ls.status === 0 ? ls.stdout.split('\n').filter((l) => l !== '') : [],
    docker: dockerState(),
    sysctls: Object.fromEntries(HOST_SYSCTLS.map((k) => [k, readSysctl(k)])),
  };
}
