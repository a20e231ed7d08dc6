import { readFile, readdir } from 'node:fs/promises';
import { errorMessage } from '../errors.js';
import type { NetnsRef } from './exec.js';
import { existsInRoot, listInRoot, printable, readWholeInRoot } from './safeRead.js';

export type Libc = 'glibc' | 'musl' | 'unknown';

/** One resolv.conf as a program in some root file system reads it, with the C library that interprets it there. */
export interface ResolverConfig {
  /** host, netns NAME, container ID (comm), pod sandbox ID. */
  where: string;
  path: string;
  text: string | null;
  error: string | null;
  libc: Libc;
}

/** The container id in a /proc/<pid>/cgroup: Docker, containerd (CRI), CRI-O, Podman, or a kubepods slice. */
export function containerIdOf(cgroup: string): string | null {
  for (const line of cgroup.split('\n')) {
    const path = line.split(':').slice(2).join(':');
    const m =
      /(?:docker|cri-containerd|crio|libpod)[-/]([0-9a-f]{64})(?:\.scope)?/.exec(path) ??
      /\/(?:docker|kubepods[^/]*(?:\/[^/]+)*?)\/([0-9a-f]{64})(?:\/|$)/.exec(path);
    if (m?.[1]) return m[1];
  }
  return null;
}

/**
 * Which C library a root file system's programs use: musl's loader, else glibc's libc or loader, else unknown.
 * `root` is a directory ('/' for the host); every path is resolved inside it (a container's own symlinks included).
 */
export async function libcOf(root: string): Promise<Libc> {
  const lib = await listInRoot(root, 'lib');
  if (lib.some((f) => /^ld-musl-.+\.so\.1$/.test(f))) return 'musl';
  const glibc = [
    'lib64/ld-linux-x86-64.so.2',
    'lib/ld-linux-aarch64.so.1',
    'lib/x86_64-linux-gnu/libc.so.6',
    'lib/aarch64-linux-gnu/libc.so.6',
    'usr/lib64/libc.so.6',
    'lib64/libc.so.6',
    'lib/libc.so.6',
  ];
  for (const p of glibc) if (await existsInRoot(root, p)) return 'glibc';
  return 'unknown';
}

/**
 * A resolv.conf inside `root`, read as hostile input (safeRead.ts: inside the root, regular files only, 64 KiB):
 * its text and any error reach the terminal with control characters escaped.
 */
async function readConfig(where: string, root: string, rel: string, libc: Libc): Promise<ResolverConfig> {
  const path = root === '/' ? rel : `${root}${rel}`;
  try {
    return { where, path, text: printable(await readWholeInRoot(root, rel), true), error: null, libc };
  } catch (err) {
    return { where, path, text: null, error: printable(errorMessage(err)), libc };
  }
}

/** One process per running container (the lowest pid), found through the cgroups of /proc. */
async function runningContainers(): Promise<{ id: string; pid: number }[]> {
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => a - b);
  const byId = new Map<string, number>();
  for (const pid of pids) {
    const cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    const id = containerIdOf(cgroup);
    if (id && !byId.has(id)) byId.set(id, pid);
  }
  return [...byId.entries()].map(([id, pid]) => ({ id, pid }));
}

/** Where container runtimes keep each pod sandbox's resolv.conf (containerd's CRI plugin, CRI-O). */
const SANDBOX_DIRS = [
  { dir: '/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes', file: 'resolv.conf' },
  { dir: '/run/containers/storage/overlay-containers', file: 'userdata/resolv.conf' },
];

async function podSandboxes(): Promise<ResolverConfig[]> {
  const out: ResolverConfig[] = [];
  for (const { dir, file } of SANDBOX_DIRS) {
    const ids = await readdir(dir).catch(() => [] as string[]);
    for (const id of ids) {
      const path = `${dir}/${id}/${file}`;
      // Which libc reads it is up to each of the pod's containers, listed on their own.
      if (await existsInRoot('/', path)) out.push(await readConfig(`pod sandbox ${printable(id.slice(0, 12))}`, '/', path, 'unknown'));
    }
  }
  return out;
}

/**
 * The resolv.conf files that the lookups of a namespace use: for the host, its own, every running container's
 * (through /proc/<pid>/root) and every pod sandbox's; for a named netns, /etc/netns/NAME/resolv.conf when
 * `ip netns exec` would bind it, else the host's; for a process, its root's.
 */
export async function readResolvers(ns: NetnsRef): Promise<ResolverConfig[]> {
  if (ns.kind === 'pid') {
    const root = `/proc/${ns.pid}/root`;
    return [await readConfig(`pid ${ns.pid}`, root, '/etc/resolv.conf', await libcOf(root))];
  }
  const hostLibc = await libcOf('/');
  if (ns.kind === 'netns') {
    const own = `/etc/netns/${ns.name}/resolv.conf`;
    return [await readConfig(`netns ${ns.name}`, '/', (await existsInRoot('/', own)) ? own : '/etc/resolv.conf', hostLibc)];
  }
  const host = await readConfig('host', '/', '/etc/resolv.conf', hostLibc);
  const containers = await Promise.all(
    (await runningContainers()).map(async ({ id, pid }) => {
      // comm is the process's own choice (prctl PR_SET_NAME): printed escaped.
      const comm = printable((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim());
      const root = `/proc/${pid}/root`;
      return readConfig(`container ${id.slice(0, 12)} (${comm})`, root, '/etc/resolv.conf', await libcOf(root));
    }),
  );
  return [host, ...containers, ...(await podSandboxes())];
}
