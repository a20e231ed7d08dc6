import { readdir, stat } from 'node:fs/promises';
import type Docker from 'dockerode';
import { connectDocker, dockerAnswers } from '../../backends/docker/daemon.js';
import { CommandNotFoundError, run } from '../../host/exec.js';
import { DEFAULT_PODS_LOG_ROOT, PODS_LOG_ROOT_ENV, readPodNetns } from './podOwners.js';

/**
 * Who owns an address or a network namespace on this node: a named namespace (`ip netns`), a Docker container, a CRI
 * pod, with the pod's name and namespace where the container carries Kubernetes' labels. Everything here is read
 * from the runtime (names and labels are pod-controlled text: cleaned before printing). Read only.
 */
export interface Owner {
  /** netns:<name>, container:<short id>, or pod:<namespace>/<name>. */
  id: string;
  container?: string;
  pod?: string;
  namespace?: string;
}

const POD_NAME = 'io.kubernetes.pod.name';
const POD_NAMESPACE = 'io.kubernetes.pod.namespace';
const CONTAINER_NAME = 'io.kubernetes.container.name';

/** Printable and bounded: a pod's labels reach the terminal and metric labels. */
export const clean = (s: string): string => s.replace(/[^\w.:/@-]/g, '?').slice(0, 128);

export function ownerFromLabels(idShort: string, name: string, labels: Record<string, string> | undefined): Owner {
  const l = labels ?? {};
  const pod = l[POD_NAME];
  const ns = l[POD_NAMESPACE];
  const container = clean(l[CONTAINER_NAME] ?? name.replace(/^\//, ''));
  if (pod !== undefined && ns !== undefined) return { id: `pod:${clean(ns)}/${clean(pod)}`, container, pod: clean(pod), namespace: clean(ns) };
  return { id: `container:${clean(idShort)}`, container };
}

/** Addresses of one `ip -j addr` answer. */
export function addressesOf(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) return [];
  const out: string[] = [];
  for (const link of parsed as { addr_info?: { local?: unknown }[] }[]) {
    for (const a of link.addr_info ?? []) if (typeof a.local === 'string' && !a.local.startsWith('127.') && a.local !== '::1') out.push(a.local);
  }
  return out;
}

export class OwnerIndex {
  private byAddress = new Map<string, Owner>();
  private byNetns = new Map<number, Owner>();
  /** Namespace inode -> a path that enters it (for conntrack lookups there). */
  readonly netnsPaths = new Map<number, string>();
  private docker: Docker | null = null;
  private refreshedAt = 0;
  private refreshing: Promise<void> | null = null;

  private hostInode = 0;
  /** Namespaces named by the kubelet's cgroups and log directories: the first answer, the runtimes' only fill gaps. */
  private readonly podNetns = new Set<number>();

  constructor(
    private readonly warn: (line: string) => void,
    private readonly podsLogRoot = process.env[PODS_LOG_ROOT_ENV] || DEFAULT_PODS_LOG_ROOT,
  ) {}

  async init(): Promise<void> {
    if (await dockerAnswers(1500)) this.docker = (await connectDocker()).docker;
    const self = await stat('/proc/self/ns/net');
    this.hostInode = self.ino;
    this.byNetns.set(self.ino, { id: 'host' });
    this.netnsPaths.set(self.ino, '/proc/self/ns/net');
    await this.refresh();
  }

  /** Read the runtimes again, at most once every 2 s (a record naming an unknown address asks for it). */
  refreshSoon(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (Date.now() - this.refreshedAt < 2000) return Promise.resolve();
    return this.refresh();
  }

  private refresh(): Promise<void> {
    this.refreshing = (async () => {
      const byAddress = new Map<string, Owner>();
      await Promise.all([this.readNamed(byAddress), this.readDocker(byAddress), this.readCri(byAddress)]);
      // Read last, written over the others: where it names a pod, it comes first.
      for (const [addr, owner] of await this.readPods()) byAddress.set(addr, owner);
      this.byAddress = byAddress;
      this.refreshedAt = Date.now();
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** Pods by their processes' cgroups and the kubelet's log directory names (hostPID, no runtime socket). */
  private async readPods(): Promise<Map<string, Owner>> {
    const out = new Map<string, Owner>();
    // No container named: a pod's containers share its namespace, and its first process is mostly the sandbox's.
    for (const n of await readPodNetns({ logRoot: this.podsLogRoot, hostInode: this.hostInode })) {
      const owner: Owner = { id: `pod:${n.pod.namespace}/${n.pod.name}`, pod: n.pod.name, namespace: n.pod.namespace };
      this.byNetns.set(n.inode, owner);
      this.podNetns.add(n.inode);
      if (!this.netnsPaths.has(n.inode)) this.netnsPaths.set(n.inode, `/proc/${n.pid}/ns/net`);
      for (const a of n.addresses) out.set(a, owner);
    }
    return out;
  }

  private async readNamed(into: Map<string, Owner>): Promise<void> {
    let names: string[];
    try {
      names = (await readdir('/run/netns')).filter((n) => /^[\w.-]+$/.test(n)).slice(0, 4096);
    } catch {
      return; // no named namespace on this node
    }
    await Promise.all(
      names.map(async (name) => {
        const path = `/run/netns/${name}`;
        const owner: Owner = { id: `netns:${name}` };
        try {
          const s = await stat(path);
          if (!this.podNetns.has(s.ino)) this.byNetns.set(s.ino, owner);
          this.netnsPaths.set(s.ino, path);
          const r = await run('ip', ['-n', name, '-j', 'addr'], { timeoutMs: 5000 });
          for (const a of addressesOf(r.stdout)) into.set(a, owner);
        } catch (err) {
          this.warn(`owners: netns ${name}: ${(err as Error).message}`);
        }
      }),
    );
  }

  private async readDocker(into: Map<string, Owner>): Promise<void> {
    if (!this.docker) return;
    const list = await this.docker.listContainers();
    await Promise.all(
      list.map(async (c) => {
        const owner = ownerFromLabels(c.Id.slice(0, 12), c.Names[0] ?? c.Id.slice(0, 12), c.Labels);
        for (const n of Object.values(c.NetworkSettings?.Networks ?? {})) {
          if (n.IPAddress) into.set(n.IPAddress, owner);
          if (n.GlobalIPv6Address) into.set(n.GlobalIPv6Address, owner);
        }
        const info = await this.docker?.getContainer(c.Id).inspect().catch(() => null);
        const pid = info?.State.Pid;
        if (pid && pid > 0) {
          const s = await stat(`/proc/${pid}/ns/net`).catch(() => null);
          if (s && !this.byNetns.has(s.ino)) {
            this.byNetns.set(s.ino, owner);
            this.netnsPaths.set(s.ino, `/proc/${pid}/ns/net`);
          }
        }
      }),
    );
  }

  /** CRI pods through crictl where it is installed (a Kubernetes node without Docker). */
  private async readCri(into: Map<string, Owner>): Promise<void> {
    let ids: string[];
    try {
      const r = await run('crictl', ['pods', '-q', '--state', 'ready'], { timeoutMs: 10_000, check: false });
      if (r.code !== 0) return;
      ids = r.stdout.split('\n').filter((l) => /^[0-9a-f]{6,64}$/.test(l.trim())).slice(0, 1024);
    } catch (err) {
      if (err instanceof CommandNotFoundError) return;
      throw err;
    }
    for (const id of ids) {
      const r = await run('crictl', ['inspectp', '-o', 'json', id], { timeoutMs: 10_000, check: false });
      if (r.code !== 0) continue;
      const p = JSON.parse(r.stdout) as { status?: { metadata?: { name?: string; namespace?: string }; network?: { ip?: string; additionalIps?: { ip?: string }[] } } };
      const md = p.status?.metadata;
      if (!md?.name || !md.namespace) continue;
      const owner: Owner = { id: `pod:${clean(md.namespace)}/${clean(md.name)}`, pod: clean(md.name), namespace: clean(md.namespace) };
      for (const ip of [p.status?.network?.ip, ...(p.status?.network?.additionalIps ?? []).map((a) => a.ip)]) if (ip) into.set(ip, owner);
    }
  }

  ofAddress(addr: string): Owner | null {
    return this.byAddress.get(addr) ?? null;
  }

  ofNetns(inode: number): Owner {
    return this.byNetns.get(inode) ?? { id: `netns:[${inode}]` };
  }
}
