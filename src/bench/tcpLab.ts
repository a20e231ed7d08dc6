/**
 * A TCP lab on the netns backend for the bench and the agents' own tests: a run session, K client namespaces
 * behind the host's MASQUERADE, one server agent (bare sink), and a way to run one client agent per namespace
 * and collect their results. `close()` tears everything down and leaves the host as found.
 */
import { RunSession } from '../runner/runSession.js';
import { buildNetnsTopology } from '../backends/netns/topology.js';
import type { Topology } from '../backends/topology.js';
import { installRules, setMasqueradeMode, tablesToBeCreated, type SnatTopology } from '../host/iptables.js';
import type { MasqueradeMode } from '../types.js';
import type { AgentConnection } from '../runner/agentConnection.js';
import type { TcpClientConfig, TcpClientResultEvent, TcpServerConfig } from '../agents/common/protocol.js';

export interface TcpLabOptions {
  command: string;
  clients: number;
  portRange: [number, number];
  serverPort: number;
  serverWorkers: number;
  /** The MASQUERADE mode the lab starts with (setMasqueradeMode(lab.snat, ...) changes it). */
  mode: MasqueradeMode;
}

/** A client agent's config; where to connect defaults to the lab's server agent. */
export type LabClientConfig = Omit<TcpClientConfig, 'host' | 'port'> & { host?: string; port?: number };

export interface TcpLab {
  topology: Topology;
  snat: SnatTopology;
  server: AgentConnection;
  /** One client agent per client namespace with this config; `whileRunning` gets them once released. */
  runClients(cfg: LabClientConfig, whileRunning?: (agents: AgentConnection[]) => void): Promise<TcpClientResultEvent[]>;
  close(): Promise<void>;
}

export async function openTcpLab(opts: TcpLabOptions): Promise<TcpLab> {
  const session = await RunSession.open(opts.command);
  const { runId, state } = session;
  let topology: Topology | null = null;
  let server: AgentConnection | null = null;
  const close = async (): Promise<void> => {
    if (server) await server.stop();
    if (topology) await topology.teardown().catch(() => undefined);
    await session.removeHostState();
    await session.close();
  };
  try {
    topology = await buildNetnsTopology(
      {
        runId, clients: opts.clients, portRange: opts.portRange, clientSysctls: {},
        serverSysctls: { 'net.core.somaxconn': '65535', 'net.ipv4.tcp_max_syn_backlog': '65535' },
      },
      state,
    );
    const t = topology;
    const snat: SnatTopology = { runId, clientSubnet: t.clientSubnet, clientBridge: t.clientBridge, serverSubnet: t.serverSubnet, forwardHook: t.forwardHook };
    for (const table of await tablesToBeCreated()) await state.add('tables', table);
    await installRules(snat);
    await setMasqueradeMode(snat, opts.mode);
    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: 'rst', workers: opts.serverWorkers, backlog: 65535, protocol: 'tcp' };
    server = await t.startAgent(t.server, { label: 'server agent', agent: 'tcp/server', config: serverCfg, priority: 'high' });
    await server.waitFor('ready', 30_000);
    const srv = server;

    const runClients = async (cfg: LabClientConfig, whileRunning?: (agents: AgentConnection[]) => void): Promise<TcpClientResultEvent[]> => {
      const agents: AgentConnection[] = [];
      try {
        for (const [i, c] of t.clients.entries()) {
          const config: TcpClientConfig = { ...cfg, host: cfg.host ?? t.server.address, port: cfg.port ?? opts.serverPort };
          agents.push(await t.startAgent(c, { label: `client ${i}`, agent: 'tcp/client', config, priority: 'normal' }));
        }
        await Promise.all(agents.map((a) => a.waitFor('ready', 30_000)));
        for (const a of agents) a.send('start');
        whileRunning?.(agents);
        const limit = cfg.durationMs + cfg.connectTimeoutMs + 30_000;
        return await Promise.all(agents.map((a) => a.waitFor('result', limit)));
      } finally {
        await Promise.all(agents.map((a) => a.stop()));
      }
    };
    return { topology: t, snat, server: srv, runClients, close };
  } catch (err) {
    await close();
    throw err;
  }
}
