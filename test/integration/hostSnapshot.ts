import { execFileSync, spawnSync } from 'node:child_process';

/** What a run must leave exactly as it found: rules, namespaces, links, routes, the harness's state files. */
export interface HostSnapshot {
  iptables: string;
  netns: string[];
  links: string[];
  routes: string;
  stateFiles: string[];
  /** Docker's containers, networks and images (the harness's cached agent image excepted); empty without a daemon. */
  docker: { containers: string[]; networks: string[]; images: string[] };
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
    routes: out('ip', ['-4', 'route', 'show', 'table', 'all']),
    stateFiles: ls.status === 0 ? ls.stdout.split('\n').filter((l) => l !== '') : [],
    docker: dockerState(),
  };
}
