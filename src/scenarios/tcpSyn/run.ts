import type { AgentConnection } from '../../runner/agentConnection.js';
import { RunSession } from '../../runner/runSession.js';
import { buildNetnsTopology } from '../../backends/netns/topology.js';
import type { Topology } from '../../backends/topology.js';
import { relayClientProgress, type ScenarioHooks, type ScenarioProgress } from '../../runner/hooks.js';
import { conntrackDelta, readConntrackStat, type ConntrackStat } from '../../host/conntrackStat.js';
import { netCountersDelta, sumCounters, type NetCounters } from '../../host/netstat.js';
import { deleteEntriesFromSubnet } from '../../host/conntrackTable.js';
import {
  installRules, setMasqueradeMode, tablesToBeCreated, type SnatTopology,
} from '../../host/iptables.js';
import { analyzeMode, type ClientOutcome } from './analyze.js';
import { overallVerdict } from '../../analysis/verdict.js';
import { TOLERANCE_DESCRIPTION, SLOW_THRESHOLD_MS } from '../../analysis/signatures.js';
import { collectEnvironment } from '../../host/environment.js';
import { RESULT_SCHEMA, type MasqueradeMode, type ModeResult, type ResultFile, type TcpSynConfig } from '../../types.js';
import type { TcpClientConfig, TcpClientResultEvent, TcpServerConfig } from '../../agents/common/protocol.js';

export type TcpSynOptions = Omit<TcpSynConfig, 'clientSubnet' | 'serverSubnet' | 'backend'>;

/** tcp-syn reports progress and takes hooks as every scenario does (src/scenarios/hooks.ts). */
export type ModeProgress = ScenarioProgress;
export type RunHooks = ScenarioHooks;

/** Counters that are always reported, zero or not. */
const CLIENT_KEYS = ['TcpExtTCPSynRetrans', 'TcpActiveOpens', 'TcpAttemptFails'];
const SERVER_KEYS = ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpPassiveOpens', 'TcpExtTCPSYNChallenge'];
// clashres kept when the kernel has it: its absence marks a kernel before 5.10 (race drops = min(insert_failed, drop)).
const CONNTRACK_KEYS = ['insert_failed', 'drop', 'clashres'];

interface Snapshot {
  conntrack: ConntrackStat;
  clients: NetCounters[];
  server: NetCounters;
}

async function snapshot(t: Topology): Promise<Snapshot> {
  const [conntrack, server, ...clients] = await Promise.all([
    readConntrackStat(),
    t.readCounters(t.server),
    ...t.clients.map((c) => t.readCounters(c)),
  ]);
  return { conntrack, server, clients };
}

/** Namespaced sysctls: a server that is never the bottleneck, clients whose ports come back quickly. */
const SERVER_SYSCTLS = { 'net.core.somaxconn': '65535', 'net.ipv4.tcp_max_syn_backlog': '65535' };
const CLIENT_SYSCTLS = {
  // With --close fin every port sits in TIME_WAIT for 60 s; let connect() reuse it (timestamps make that safe),
  // or a narrow port range runs dry within a second.
  'net.ipv4.tcp_tw_reuse': '1',
};

/** A load phase that did not end by itself within its bound: the run is stopped, never left hanging. */
export class WatchdogError extends Error {
  override name = 'WatchdogError';
}

export type { BuildTopology } from '../../backends/choose.js';
import type { BuildTopology } from '../../backends/choose.js';

/** Old name, kept for callers written before the docker backend: the netns backend. */
export function runTcpSynNetns(opts: TcpSynOptions, command: string, hooks: RunHooks = {}): Promise<ResultFile> {
  return runTcpSyn(opts, command, buildNetnsTopology, hooks);
}

/**
 * `tcp-syn`: build the topology (netns or docker), then for each MASQUERADE mode run the connect storm from
 * every client at once and diff the kernel's counters around it. Everything created is removed in `finally`,
 * whatever happens.
 */
export async function runTcpSyn(opts: TcpSynOptions, command: string, build: BuildTopology, hooks: RunHooks = {}): Promise<ResultFile> {
  const session = await RunSession.open(command, hooks);
  const { runId, startedAt, state, phase } = session;

  let topo: Topology | null = null;
  let server: AgentConnection | null = null;
  let clients: AgentConnection[] = [];
  const modes: ModeResult[] = [];

  try {
    phase(`topology: ${opts.clients} clients and a server (run ${runId})`);
    topo = await build(
      { runId, clients: opts.clients, portRange: opts.portRange, serverSysctls: SERVER_SYSCTLS, clientSysctls: CLIENT_SYSCTLS },
      state,
    );
    const t = topo;
    phase(`${t.backend}: clients on ${t.clientSubnet} (bridge ${t.clientBridge}), server ${t.server.address} on ${t.serverSubnet}`);
    const snat: SnatTopology = { runId, clientSubnet: t.clientSubnet, clientBridge: t.clientBridge, serverSubnet: t.serverSubnet, forwardHook: t.forwardHook };
    const config: TcpSynConfig = { ...opts, backend: t.backend, clientSubnet: t.clientSubnet, serverSubnet: t.serverSubnet };
    for (const table of await tablesToBeCreated()) await state.add('tables', table);
    await installRules(snat);
    const environment = await collectEnvironment(t.backend, t.docker);

    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: opts.close, workers: opts.serverWorkers, backlog: 65535, protocol: opts.protocol ?? 'tcp' };
    server = await t.startAgent(t.server, { label: 'server agent', agent: 'tcp/server', config: serverCfg, priority: 'high' });
    await server.waitFor('ready', 30_000);

    for (const [index, mode] of opts.modes.entries()) {
      if (session.interrupted) break;
      const rule = await setMasqueradeMode(snat, mode);
      await deleteEntriesFromSubnet(t.clientSubnet);
      phase(`mode ${mode}: ${rule}`);
      const before = await snapshot(t);

      const perClient = (i: number): number =>
        Math.floor(opts.connections / opts.clients) + (i < opts.connections % opts.clients ? 1 : 0);
      clients = session.load = await Promise.all(
        t.clients.map((c, i) => {
          const cfg: TcpClientConfig = {
            host: t.server.address,
            port: opts.serverPort,
            workers: opts.workers,
            concurrency: opts.concurrency,
            connections: perClient(i),
            durationMs: opts.durationSec * 1000,
            connectTimeoutMs: opts.connectTimeoutMs,
            close: opts.close,
            progressIntervalMs: 500,
            protocol: opts.protocol ?? 'tcp',
            keepalive: opts.keepalive ?? false,
          };
          return t.startAgent(c, { label: `client agent ${i}`, agent: 'tcp/client', config: cfg, priority: 'normal' });
        }),
      );
      await Promise.all(clients.map((c) => c.waitFor('ready', 30_000)));
      if (session.interrupted) break;

      relayClientProgress(clients, hooks, { mode, index, total: opts.modes.length, target: opts.connections });
      for (const c of clients) c.send('start');
      // Bounded: the agents stop at their quota or duration; the watchdog allows one connect timeout more
      // (two for HTTP: the response timeout equals the connect timeout and starts once the request is written).
      const timeouts = opts.protocol === 'http' ? 2 : 1;
      const limitMs = opts.durationSec * 1000 + timeouts * opts.connectTimeoutMs + 15_000;
      const results = await Promise.all(
        clients.map((c) =>
          c.waitFor('result', limitMs).catch((err: unknown) => {
            throw new WatchdogError(
              `watchdog: ${c.label} gave no result within ${Math.round(limitMs / 1000)} s (--duration + --connect-timeout + 15 s), ` +
                `so the run was stopped and torn down (${err instanceof Error ? err.message : String(err)})`,
            );
          }),
        ),
      );
      const durationMs = Math.max(...results.map((r) => r.elapsedMs));
      await Promise.all(clients.map((c) => c.stop()));
      clients = session.load = [];

      // Let in-flight packets settle before the after-snapshot (a late SYN retransmit, a final RST).
      await new Promise((r) => setTimeout(r, 200));
      const after = await snapshot(t);
      const counters = {
        conntrack: pick(conntrackDelta(before.conntrack, after.conntrack), CONNTRACK_KEYS),
        clients: sumCounters(before.clients.map((b, i) => netCountersDelta(b, after.clients[i] ?? b, CLIENT_KEYS))),
        server: netCountersDelta(before.server, after.server, SERVER_KEYS),
      };
      const m = analyzeMode({
        mode,
        rule,
        clients: results.map(toOutcome),
        counters,
        durationMs,
        connectTimeoutMs: opts.connectTimeoutMs,
        detectRatePer100k: opts.detectRatePer100k,
        keepalive: opts.keepalive ?? false,
      });
      if (results.some((r) => r.aborted)) session.interrupted = true;
      modes.push(m);
      hooks.onModeDone?.(m);
    }

    return {
      schema: RESULT_SCHEMA,
      scenario: 'tcp-syn',
      runId,
      startedAt,
      finishedAt: new Date().toISOString(),
      command,
      interrupted: session.interrupted,
      environment,
      config,
      signatureBands: { description: TOLERANCE_DESCRIPTION, slowThresholdMs: SLOW_THRESHOLD_MS },
      modes,
      verdict: overallVerdict(modes.map((m) => m.verdict)),
      summary: summarize(modes),
    };
  } finally {
    phase('teardown');
    for (const c of clients) c.kill();
    if (server) await server.stop();
    if (topo) await topo.teardown().catch(() => undefined);
    await session.removeHostState();
    await session.close();
  }
}

function toOutcome(r: TcpClientResultEvent): ClientOutcome {
  return {
    attempts: r.attempts, succeeded: r.succeeded, failed: r.failed, failures: r.failures, histogram: r.histogram,
    ...(r.http ? { http: r.http } : {}), ...(r.connectPath ? { connectPath: r.connectPath } : {}),
  };
}

/** Keep every nonzero delta plus the named keys, zero or not; a column this kernel lacks stays absent (never a made-up 0). */
function pick(delta: Record<string, number>, keep: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(delta)) if (v !== 0 || keep.includes(k)) out[k] = v;
  return out;
}

export function summarize(modes: readonly ModeResult[]): string {
  return modes
    .map((m) => `${m.mode}: ${m.verdict} (${m.attribution.conntrackRace} race drops, ${m.attribution.lostSyns} lost SYNs in ${m.attempts} attempts)`)
    .join('; ');
}
