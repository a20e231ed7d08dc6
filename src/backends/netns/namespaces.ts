import { run, runInNetns } from '../../host/exec.js';
import { hostAddress, formatPrefix, type Prefix } from '../../host/subnets.js';
import { linkName, netnsName } from '../../host/names.js';
import type { TopologyRequest } from '../topology.js';

/**
 * The netns backend's topology: K client namespaces on a Linux bridge inside a router namespace of the run's
 * own, which also holds the veth to the server namespace and the NAT under test (forwarding on inside it). Nothing
 * is created in the host namespace: every link is made inside the router, so deleting the namespaces is the
 * whole teardown, and the router's conntrack table and stats are the lab's alone.
 *
 *   client i (eth0 .10+i) ─┐   router namespace
 *                          ├─ bridge (.1, client subnet) ── NAT ── veth (.1, server subnet) ── server (eth0 .2)
 */
export interface NetnsHost {
  netns: string;
  address: string;
}

export interface NetnsTopology {
  runId: string;
  /** The namespace that routes and NATs between clients and server. */
  router: string;
  clientSubnet: string;
  serverSubnet: string;
  bridge: string;
  serverLink: string;
  clients: NetnsHost[];
  server: NetnsHost;
  gateway: string;
}

/** The backend's request with the subnets picked for it. */
export interface NamespacesRequest extends Omit<TopologyRequest, 'serverSysctls' | 'clientSysctls'> {
  clientSubnet: Prefix;
  serverSubnet: Prefix;
  /** Namespaced sysctls for the server and for every client (keys as in sysctl, e.g. net.core.somaxconn). */
  serverSysctls?: Record<string, string>;
  clientSysctls?: Record<string, string>;
  /** Called with each name right before it is created, so a crash mid-way can still be cleaned up. */
  onCreate?: (kind: 'netns' | 'link', name: string) => void;
}

/** Names and addresses of the topology, computed without touching the host. */
export function planTopology(req: NamespacesRequest): NetnsTopology {
  return {
    runId: req.runId,
    router: netnsName(req.runId, 'rtr'),
    clientSubnet: formatPrefix(req.clientSubnet),
    serverSubnet: formatPrefix(req.serverSubnet),
    bridge: linkName(req.runId, 'br'),
    serverLink: linkName(req.runId, 'sv'),
    gateway: hostAddress(req.clientSubnet, 1),
    clients: Array.from({ length: req.clients }, (_, i) => ({
      netns: netnsName(req.runId, `c${i}`),
      address: hostAddress(req.clientSubnet, 10 + i),
    })),
    server: { netns: netnsName(req.runId, 'srv'), address: hostAddress(req.serverSubnet, 2) },
  };
}

async function setSysctlInNetns(ns: string, key: string, value: string): Promise<void> {
  await runInNetns(ns, 'tee', [`/proc/sys/${key.replace(/\./g, '/')}`], { input: value + '\n' });
}

async function upNetns(ns: string, onCreate?: NamespacesRequest['onCreate']): Promise<void> {
  onCreate?.('netns', ns);
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** Build the topology. On failure, whatever was created is left for teardown (names are known). */
export async function createTopology(req: NamespacesRequest): Promise<NetnsTopology> {
  const t = planTopology(req);
  const clientLen = req.clientSubnet.length;
  const serverLen = req.serverSubnet.length;
  const inRouter = (...args: string[]): Promise<unknown> => run('ip', ['-n', t.router, ...args]);

  await upNetns(t.router, req.onCreate);
  await setSysctlInNetns(t.router, 'net.ipv4.ip_forward', '1');
  await inRouter('link', 'add', 'name', t.bridge, 'type', 'bridge');
  await inRouter('addr', 'add', `${t.gateway}/${clientLen}`, 'dev', t.bridge);
  await inRouter('link', 'set', t.bridge, 'up');

  // Server namespace on a veth pair; the router's side carries the server subnet's .1.
  await upNetns(t.server.netns, req.onCreate);
  await inRouter('link', 'add', t.serverLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', t.server.netns);
  await inRouter('addr', 'add', `${hostAddress(req.serverSubnet, 1)}/${serverLen}`, 'dev', t.serverLink);
  await inRouter('link', 'set', t.serverLink, 'up');
  await run('ip', ['-n', t.server.netns, 'addr', 'add', `${t.server.address}/${serverLen}`, 'dev', 'eth0']);
  await run('ip', ['-n', t.server.netns, 'link', 'set', 'eth0', 'up']);
  for (const [k, v] of Object.entries(req.serverSysctls ?? {})) await setSysctlInNetns(t.server.netns, k, v);

  for (const [i, c] of t.clients.entries()) {
    const routerSide = linkName(req.runId, `c${i}`);
    await upNetns(c.netns, req.onCreate);
    await inRouter('link', 'add', routerSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.netns);
    await inRouter('link', 'set', routerSide, 'master', t.bridge);
    await inRouter('link', 'set', routerSide, 'up');
    await run('ip', ['-n', c.netns, 'addr', 'add', `${c.address}/${clientLen}`, 'dev', 'eth0']);
    await run('ip', ['-n', c.netns, 'link', 'set', 'eth0', 'up']);
    // Only the server subnet is routed: the clients cannot reach anything else.
    await run('ip', ['-n', c.netns, 'route', 'add', t.serverSubnet, 'via', t.gateway]);
    await setSysctlInNetns(c.netns, 'net.ipv4.ip_local_port_range', `${req.portRange[0]} ${req.portRange[1]}`);
    for (const [k, v] of Object.entries(req.clientSysctls ?? {})) await setSysctlInNetns(c.netns, k, v);
  }
  return t;
}

/** Names that currently exist, by kind. */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n.length > 0);
}

export async function listLinks(): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
  return stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.length > 0);
}

/** Delete namespaces and links by name; missing ones are fine. Returns the names removed. */
export async function deleteNetnsAndLinks(netns: readonly string[], links: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  const existingNs = new Set(await listNetns());
  for (const ns of netns) {
    if (!existingNs.has(ns)) continue;
    await run('ip', ['netns', 'del', ns], { check: false });
    removed.push(ns);
  }
  // Deleting a namespace removes its veth peers; bridges and any leftovers go by name.
  const existingLinks = new Set(await listLinks());
  for (const l of links) {
    if (!existingLinks.has(l)) continue;
    await run('ip', ['link', 'del', l], { check: false });
    removed.push(l);
  }
  return removed;
}

/** Delete the run's namespaces: their links, rules and conntrack tables go with them. */
export async function teardownTopology(t: NetnsTopology): Promise<void> {
  await deleteNetnsAndLinks([...t.clients.map((c) => c.netns), t.server.netns, t.router], []);
}

/** A namespace's veth peers disappear asynchronously after `ip netns del`; wait (bounded) until they are gone. */
export async function waitLinksGone(links: readonly string[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const present = new Set(await listLinks());
    const left = links.filter((l) => present.has(l));
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      for (const l of left) await run('ip', ['link', 'del', l], { check: false });
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
