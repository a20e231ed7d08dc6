import { stat } from 'node:fs/promises';
import { listInRoot, readInRoot } from '../../host/safeRead.js';

/**
 * Pods named without a container-runtime socket (a CRI socket in a pod is root on the node): with hostPID,
 * - a network namespace -> the processes in it (`/proc/<pid>/ns/net` inode),
 * - a process -> its pod UID and container id, from the kubelet-made cgroup path in `/proc/<pid>/cgroup`,
 * - a pod UID -> namespace/name, from the names of the kubelet's log directories `<logRoot>/<ns>_<name>_<uid>/`
 *   (names only: nothing inside is opened),
 * - a namespace -> its local addresses, from `/proc/<pid>/net/fib_trie` and `if_inet6` (that process's netns).
 * Everything here is hostile text (cgroup paths a runtime chose, directory names): bounded reads through safeRead,
 * strict shapes, nothing printed that did not match them.
 *
 * Kubelet's names (kubernetes/kubernetes pkg/kubelet/cm): the pod cgroup's last component is `pod<uid>`
 * (GetPodCgroupNameSuffix); the systemd driver joins components with `-` after replacing each `-` with `_`
 * (escapeSystemdCgroupName) and expands the slice, so `kubepods-burstable-pod<uid with _>.slice`; cgroupfs keeps
 * `/kubepods/burstable/pod<uid>`. The runtime names the container's own cgroup below it: `cri-containerd-<id>.scope`,
 * `crio-<id>.scope`, `docker-<id>.scope` (systemd) or `<id>` (cgroupfs). Log directories: kuberuntime's
 * BuildPodLogsDirectory joins namespace, name and UID with `_` (neither a namespace nor a pod name can hold one).
 */

export const DEFAULT_PODS_LOG_ROOT = '/var/log/pods';
/** Where the kubelet's pod log directories are read (a test's fake root, or a node that moved them). */
export const PODS_LOG_ROOT_ENV = 'REPRO_PODS_LOG_ROOT';

/** A UUID (API-server pods) or 32 hex digits (static pods: the hash of their manifest). */
const UID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;
const DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN_PART = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const CONTAINER_ID = /^[0-9a-f]{64}$/;

export function isPodUid(s: string): boolean {
  return UID.test(s);
}
export function isNamespaceName(s: string): boolean {
  return DNS1123_LABEL.test(s);
}
export function isPodName(s: string): boolean {
  return s.length <= 253 && s.split('.').every((p) => DNS1123_SUBDOMAIN_PART.test(p));
}

export interface CgroupPod {
  uid: string;
  /** The container's runtime id where the path names one (the pod's own cgroup holds none). */
  containerId?: string;
  runtime?: 'containerd' | 'cri-o' | 'docker';
}

const SYSTEMD_POD = /^kubepods(?:-burstable|-besteffort)?-pod([0-9a-f_]{32,36})\.slice$/;
const CGROUPFS_POD = /^pod([0-9a-f-]{32,36})$/;
const SCOPE = /^(cri-containerd|crio|docker)-([0-9a-f]{64})\.scope$/;
const RUNTIME = { 'cri-containerd': 'containerd', crio: 'cri-o', docker: 'docker' } as const;

/** The pod of one cgroup path (v1 or v2, systemd or cgroupfs driver, seen from any cgroup namespace), or null. */
export function podOfCgroupPath(path: string): CgroupPod | null {
  const parts = path.split('/');
  // The first pod component from the root wins: the only ones a container can make (a delegated cgroup of its own)
  // are deeper, so a planted `pod<other uid>` below its own never renames it.
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const sd = SYSTEMD_POD.exec(part);
    const fs = sd ? null : CGROUPFS_POD.exec(part);
    const uid = sd ? (sd[1] ?? '').replace(/_/g, '-') : fs?.[1];
    if (uid === undefined || !isPodUid(uid)) continue;
    const next = parts[i + 1] ?? '';
    const scope = SCOPE.exec(next);
    if (scope) return { uid, containerId: scope[2], runtime: RUNTIME[scope[1] as keyof typeof RUNTIME] };
    if (!sd && CONTAINER_ID.test(next)) return { uid, containerId: next };
    return { uid };
  }
  return null;
}

/** The pod of a `/proc/<pid>/cgroup` text: the first line (v2 `0::`, or any v1 hierarchy) whose path names one. */
export function podOfCgroupFile(text: string): CgroupPod | null {
  for (const line of text.split('\n').slice(0, 64)) {
    // hierarchy-id:controllers:path; the path may itself hold ':' only in hostile text, which then matches nothing.
    const m = /^\d+:[^:]*:(\/.*)$/.exec(line);
    const pod = m?.[1] ? podOfCgroupPath(m[1]) : null;
    if (pod) return pod;
  }
  return null;
}

export interface PodName {
  namespace: string;
  name: string;
  uid: string;
}

/** One kubelet log directory name `<namespace>_<name>_<uid>`, or null for anything not of that exact shape. */
export function podOfLogDir(dir: string): PodName | null {
  const parts = dir.split('_');
  if (parts.length !== 3) return null;
  const [namespace, name, uid] = parts as [string, string, string];
  if (!isNamespaceName(namespace) || !isPodName(name) || !isPodUid(uid)) return null;
  return { namespace, name, uid };
}

/** Pod UID -> name, from the directory names under the log root (entries of the wrong shape are skipped). */
export async function readPodLogDirs(root: string, maxEntries = 10_000): Promise<Map<string, PodName>> {
  const out = new Map<string, PodName>();
  for (const entry of await listInRoot(root, '.', maxEntries)) {
    const p = podOfLogDir(entry);
    if (p) out.set(p.uid, p);
  }
  return out;
}

/** The local addresses in a `/proc/<pid>/net/fib_trie` text (the leaves marked `/32 host LOCAL`), loopback left out. */
export function localAddressesOfFibTrie(text: string): string[] {
  const out = new Set<string>();
  // A leaf (`|-- a.b.c.d`) is followed by one line per prefix it holds; the local table marks its own with `/32 host LOCAL`.
  let leaf: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^\s+\|-- (\d{1,3}(?:\.\d{1,3}){3})$/.exec(line);
    if (m) leaf = m[1] ?? null;
    else if (/^\s+\+-- /.test(line) || !/^\s+\//.test(line)) leaf = null;
    else if (leaf && /^\s+\/32 host LOCAL$/.test(line) && !leaf.startsWith('127.')) out.add(leaf);
  }
  return [...out];
}

/** The global addresses in a `/proc/<pid>/net/if_inet6` text, in the compressed form the tracer prints. */
export function addressesOfIfInet6(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{32}) [0-9a-f]+ [0-9a-f]+ ([0-9a-f]+) [0-9a-f]+ +\S+$/.exec(line);
    // Scope 00 is global; link-local and loopback name no pod.
    if (!m?.[1] || m[2] !== '00') continue;
    const groups = m[1].match(/.{4}/g) ?? [];
    out.push(new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1));
  }
  return out;
}

export interface PodNetns {
  inode: number;
  pid: number;
  pod: PodName;
  container?: string;
  addresses: string[];
}

/**
 * Every network namespace on the node whose processes sit in a pod's cgroup, with the pod's name and addresses.
 * Needs hostPID (else /proc shows only our own pod); a namespace of the host's (hostNetwork pods) is left out.
 */
export async function readPodNetns(opts: { procRoot?: string; logRoot: string; hostInode: number; maxPids?: number }): Promise<PodNetns[]> {
  const proc = opts.procRoot ?? '/proc';
  const names = await readPodLogDirs(opts.logRoot);
  if (names.size === 0) return [];
  const pids = (await listInRoot(proc, '.', opts.maxPids ?? 65_536))
    .filter((n) => /^[1-9]\d{0,9}$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  const seen = new Set<number>([opts.hostInode]);
  const out: PodNetns[] = [];
  for (const pid of pids) {
    // A process that ended meanwhile, or one we may not inspect, is passed over: the next of its namespace will do.
    const inode = await stat(`${proc}/${pid}/ns/net`).then((s) => s.ino, () => null);
    if (inode === null || seen.has(inode)) continue;
    const cg = await readInRoot(proc, `${pid}/cgroup`, { maxBytes: 16 * 1024 }).catch(() => null);
    const cp = cg ? podOfCgroupFile(cg.text) : null;
    const pod = cp ? names.get(cp.uid) : undefined;
    if (!cp || !pod) continue;
    seen.add(inode);
    const fib = await readInRoot(proc, `${pid}/net/fib_trie`, { maxBytes: 256 * 1024 }).catch(() => null);
    const v6 = await readInRoot(proc, `${pid}/net/if_inet6`, { maxBytes: 64 * 1024 }).catch(() => null);
    const addresses = [...(fib ? localAddressesOfFibTrie(fib.text) : []), ...(v6 ? addressesOfIfInet6(v6.text) : [])];
    out.push({ inode, pid, pod, ...(cp.containerId ? { container: cp.containerId.slice(0, 12) } : {}), addresses });
  }
  return out;
}
