/**
 * A TCP lab on the netns backend for the bench and the agents' own tests: a run session, K client namespaces
 * behind the host's MASQUERADE, one server agent (bare sink), and a way to run one client agent per namespace
 * and collect their results. `close()` tears everything down and leaves the host as found.
 */
import { buildNetnsTopology } from '../../backends/netns/topology.js';
import type { Topology } from '../../backends/topology.js';
import { setMasqueradeMode, type SnatTopology } from '../../host/iptables.js';
import { openRunScope } from './runScope.js';
import { openNatLab, SERVER_BACKLOG, SERVER_SYSCTLS, startOnEveryClient, startRunAgent } from './natLab.js';
import { AGENT_READY_TIMEOUT_MS, WATCHDOG_SLACK_MS } from './timing.js';
import type { MasqueradeMode } from '../../types.js';
import type { AgentConnection } from '../../runner/agentConnection.js';
import type { TcpClientConfig, TcpClientResultEvent, TcpServerConfig } from '../../agents/common/protocol.js';

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
  const { scope, close } = await openRunScope(opts.command);
  try {
    const { topology: t, snat } = await openNatLab(scope, buildNetnsTopology, {
      runId: scope.session.runId, clients: opts.clients, portRange: opts.portRange, clientSysctls: {}, serverSysctls: SERVER_SYSCTLS,
    });
    await setMasqueradeMode(snat, opts.mode);
    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: 'rst', workers: opts.serverWorkers, backlog: SERVER_BACKLOG, protocol: 'tcp' };
    const server = await startRunAgent(scope, t, t.server, { label: 'server agent', agent: 'tcp/server', config: serverCfg, priority: 'high' });

    const runClients = async (cfg: LabClientConfig, whileRunning?: (agents: AgentConnection[]) => void): Promise<TcpClientResultEvent[]> => {
      const config: TcpClientConfig = { ...cfg, host: cfg.host ?? t.server.address, port: cfg.port ?? opts.serverPort };
      const agents = await startOnEveryClient(t, (_, i) => ({ label: `client ${i}`, agent: 'tcp/client', config, priority: 'normal' }));
      try {
        await Promise.all(agents.map((a) => a.waitFor('ready', AGENT_READY_TIMEOUT_MS)));
        for (const a of agents) a.send('start');
        whileRunning?.(agents);
        const limit = cfg.durationMs + cfg.connectTimeoutMs + WATCHDOG_SLACK_MS;
        return await Promise.all(agents.map((a) => a.waitFor('result', limit)));
      } finally {
        await Promise.all(agents.map((a) => a.stop()));
      }
    };
    const closeLab = async (): Promise<void> => {
      const failed = await close();
      if (failed.length > 0) throw new Error(`teardown failed: ${failed.join('; ')}`);
    };
    return { topology: t, snat, server, runClients, close: closeLab };
  } catch (err) {
    await close();
    throw err;
  }
}
