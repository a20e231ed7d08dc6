import type { AgentConnection } from '../../runner/agentConnection.js';
import { LISTEN_BACKLOG } from '../../agents/common/protocol.js';
import type { BuildTopology } from '../../backends/choose.js';
import type { AgentStart, TestHost, Topology, TopologyRequest } from '../../backends/topology.js';
import { installRules, tablesToBeCreated, type SnatTopology, type Table } from '../../host/iptables.js';
import { conntrackCounters, type ConntrackStat } from '../../host/conntrackStat.js';
import { netCountersDelta, sumCounters, type NetCounters } from '../../host/netstat.js';
import type { ModeBackground, ModeCounters } from '../../types.js';
import type { RunScope } from './runScope.js';
import { AGENT_READY_TIMEOUT_MS } from './timing.js';

/** Listen backlog of the harness's servers, and the somaxconn / tcp_max_syn_backlog that let it be that long. */
export const SERVER_BACKLOG = LISTEN_BACKLOG;
/** Namespaced sysctls of a server that is never the bottleneck. */
export const SERVER_SYSCTLS: Record<string, string> = {
  'net.core.somaxconn': String(SERVER_BACKLOG),
  'net.ipv4.tcp_max_syn_backlog': String(SERVER_BACKLOG),
};

/** Clients behind a MASQUERADE rule of the run's own, a server on the far side. */
export interface NatLab {
  topology: Topology;
  snat: SnatTopology;
}

/**
 * Build the topology on the chosen backend and install the run's NAT chains (MASQUERADE without a flag until a
 * mode sets one); both are undone when the run ends. `tables`: the iptables tables the run will write.
 */
export async function openNatLab(scope: RunScope, build: BuildTopology, req: TopologyRequest, tables: readonly Table[] = ['nat', 'filter']): Promise<NatLab> {
  const { session } = scope;
  const topology = await build(req, session.state);
  scope.onTeardown(() => topology.teardown());
  const t = topology;
  const snat: SnatTopology = {
    runId: session.runId, clientSubnet: t.clientSubnet, clientBridge: t.clientBridge, serverSubnet: t.serverSubnet, forwardHook: t.forwardHook, netns: t.natNetns,
  };
  // In the host (docker), tables the run brings into being are dropped again at the end; a router namespace's go with it.
  if (t.natNetns === null) for (const table of await tablesToBeCreated(tables)) await session.state.add('tables', table);
  await installRules(snat);
  return { topology, snat };
}

/** Start an agent that lives for the whole run (a server), stopped at teardown; resolves once it is ready. */
export async function startRunAgent(scope: RunScope, t: Topology, host: TestHost, start: AgentStart): Promise<AgentConnection> {
  const agent = await t.startAgent(host, start);
  scope.onTeardown(() => agent.stop());
  await agent.waitFor('ready', AGENT_READY_TIMEOUT_MS);
  return agent;
}

/** One load agent per client host, started at once (not yet released). */
export function startOnEveryClient(t: Topology, start: (host: TestHost, index: number) => AgentStart): Promise<AgentConnection[]> {
  return Promise.all(t.clients.map((c, i) => t.startAgent(c, start(c, i))));
}

/** A quota split over the clients, the first ones taking the remainder. */
export function shareOf(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

/** The counters a NAT lab diffs around a load: conntrack stats where the NAT happens, nstat of every host. */
export interface LabSnapshot {
  conntrack: ConntrackStat;
  clients: NetCounters[];
  server: NetCounters;
}

export async function labSnapshot(t: Topology): Promise<LabSnapshot> {
  const [conntrack, server, ...clients] = await Promise.all([t.readNatStats(), t.readCounters(t.server), ...t.clients.map((c) => t.readCounters(c))]);
  return { conntrack, server, clients };
}

/** The counters every result reports, zero or not, by group. */
export interface ReportedCounters {
  conntrack: readonly string[];
  clients: readonly string[];
  server: readonly string[];
}

/** A mode's counter deltas: every one that moved plus the reported ones; the clients' summed. */
export function labCounters(before: LabSnapshot, after: LabSnapshot, keys: ReportedCounters): ModeCounters {
  return {
    conntrack: conntrackCounters(before.conntrack, after.conntrack, keys.conntrack),
    clients: sumCounters(before.clients.map((b, i) => netCountersDelta(b, after.clients[i] ?? b, keys.clients))),
    server: netCountersDelta(before.server, after.server, keys.server),
  };
}

/** The longest idle window a mode's background is read over (a long load's background rate is known by then). */
const BACKGROUND_WINDOW_MAX_MS = 30_000;

/**
 * The NAT's background where it is shared (the host's table, docker): its conntrack stats over an idle window as
 * long as the load. Where the lab has its own NAT namespace there is nothing to read: undefined.
 */
export function natBackground(t: Topology): ((windowMs: number) => Promise<ModeBackground>) | undefined {
  if (t.natNetns !== null) return undefined;
  return async (loadMs) => {
    const windowMs = Math.min(Math.max(loadMs, 0), BACKGROUND_WINDOW_MAX_MS);
    const before = await t.readNatStats();
    await new Promise((r) => setTimeout(r, windowMs));
    const after = await t.readNatStats();
    return { windowMs, conntrack: conntrackCounters(before, after, []) };
  };
}
