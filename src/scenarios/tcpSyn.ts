import { performance } from 'node:perf_hooks';
import { UserError } from '../errors.js';
import { AgentProcess } from '../runner/agentProcess.js';
import { RunStateFile } from '../runner/runState.js';
import { conntrackDelta, readConntrackStat, type ConntrackStat } from '../counters/conntrackStat.js';
import { netCountersDelta, readNetnsCounters, sumCounters, type NetCounters } from '../counters/netstat.js';
import { createTopology, planTopology, teardownTopology, type NetnsTopology } from '../net/netnsTopology.js';
import { pickFreeSubnets, prefixesInUse } from '../net/subnets.js';
import { deleteEntriesFromSubnet } from '../net/conntrackTable.js';
import {
  dropTablesCreatedByRun, installRules, removeRules, ownedByRun, setMasqueradeMode, tablesToBeCreated, type SnatTopology,
} from '../nat/iptables.js';
import { analyzeMode, type ClientOutcome } from '../analysis/tcpSynMode.js';
import { overallVerdict } from '../analysis/verdict.js';
import { TOLERANCE_DESCRIPTION, SLOW_THRESHOLD_MS } from '../analysis/signatures.js';
import { collectEnvironment } from '../environment.js';
import { RESULT_SCHEMA, type MasqueradeMode, type ModeResult, type ResultFile, type TcpSynConfig } from '../types.js';
import type { TcpClientConfig, TcpClientResultEvent, TcpServerConfig } from '../agents/protocol.js';
import { newRunId } from '../net/names.js';

export type TcpSynOptions = Omit<TcpSynConfig, 'clientSubnet' | 'serverSubnet' | 'backend'>;

export interface ModeProgress {
  mode: MasqueradeMode;
  index: number;
  total: number;
  attempts: number;
  target: number;
  stalls: number;
  failed: number;
  elapsedMs: number;
}

export interface RunHooks {
  onPhase?: (text: string) => void;
  onProgress?: (p: ModeProgress) => void;
  onModeDone?: (m: ModeResult) => void;
  signal?: AbortSignal;
}

const SERVER_NICE = -10;

/** Counters that are always reported, zero or not. */
const CLIENT_KEYS = ['TcpExtTCPSynRetrans', 'TcpActiveOpens', 'TcpAttemptFails'];
const SERVER_KEYS = ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpPassiveOpens'];
const CONNTRACK_KEYS = ['insert_failed', 'drop'];

interface Snapshot {
  conntrack: ConntrackStat;
  clients: NetCounters[];
  server: NetCounters;
}

async function snapshot(t: NetnsTopology): Promise<Snapshot> {
  const [conntrack, server, ...clients] = await Promise.all([
    readConntrackStat(),
    readNetnsCounters(t.server.netns),
    ...t.clients.map((c) => readNetnsCounters(c.netns)),
  ]);
  return { conntrack, server, clients };
}

/**
 * `tcp-syn` on the netns backend: build the topology, then for each MASQUERADE mode run the connect storm
 * from every client at once and diff the kernel's counters around it. Everything created is removed in
 * `finally`, whatever happens.
 */
export async function runTcpSynNetns(opts: TcpSynOptions, command: string, hooks: RunHooks = {}): Promise<ResultFile> {
  const startedAt = new Date().toISOString();
  const runId = newRunId();
  const state = new RunStateFile(runId);
  const phase = hooks.onPhase ?? (() => undefined);

  const [clientSubnet, serverSubnet] = pickFreeSubnets(await prefixesInUse(), 2);
  if (!clientSubnet || !serverSubnet) throw new UserError('no free subnet for the harness');
  const plan = planTopology({ runId, clients: opts.clients, clientSubnet, serverSubnet, portRange: opts.portRange });
  const snat: SnatTopology = { runId, clientSubnet: plan.clientSubnet, clientBridge: plan.bridge, serverSubnet: plan.serverSubnet };
  const config: TcpSynConfig = { ...opts, backend: 'netns', clientSubnet: plan.clientSubnet, serverSubnet: plan.serverSubnet };

  let server: AgentProcess | null = null;
  let clients: AgentProcess[] = [];
  const modes: ModeResult[] = [];
  let interrupted = false;
  const onAbort = (): void => {
    interrupted = true;
    for (const c of clients) c.closeInput();
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await state.add('subnets', plan.clientSubnet);
    await state.add('subnets', plan.serverSubnet);
    phase(`topology: ${opts.clients} clients on ${plan.clientSubnet}, server on ${plan.serverSubnet} (run ${runId})`);
    const topo = await createTopology({
      runId,
      clients: opts.clients,
      clientSubnet,
      serverSubnet,
      portRange: opts.portRange,
      onCreate: (kind, name) => void state.add(kind === 'netns' ? 'netns' : 'links', name),
    });
    for (const t of await tablesToBeCreated()) await state.add('tables', t);
    await installRules(snat);
    const environment = await collectEnvironment('netns');

    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: opts.close, workers: opts.serverWorkers, backlog: 65535 };
    // The server runs at a higher CPU priority than the clients' connect storm: on a 2-core host the
    // clients' threads would otherwise starve its accept loop and overflow its queue (ListenOverflows).
    server = new AgentProcess('server agent', topo.server.netns, 'tcpServer', serverCfg, SERVER_NICE);
    await server.waitFor('ready', 15_000);

    for (const [index, mode] of opts.modes.entries()) {
      if (interrupted) break;
      const rule = await setMasqueradeMode(snat, mode);
      await deleteEntriesFromSubnet(plan.clientSubnet);
      phase(`mode ${mode}: ${rule}`);
      const before = await snapshot(topo);

      const perClient = (i: number): number =>
        Math.floor(opts.connections / opts.clients) + (i < opts.connections % opts.clients ? 1 : 0);
      clients = topo.clients.map((c, i) => {
        const cfg: TcpClientConfig = {
          host: topo.server.address,
          port: opts.serverPort,
          workers: opts.workers,
          concurrency: opts.concurrency,
          connections: perClient(i),
          durationMs: opts.durationSec * 1000,
          connectTimeoutMs: opts.connectTimeoutMs,
          close: opts.close,
          progressIntervalMs: 500,
        };
        return new AgentProcess(`client agent ${i}`, c.netns, 'tcpClient', cfg);
      });
      await Promise.all(clients.map((c) => c.waitFor('ready', 15_000)));
      if (interrupted) break;

      const progress = clients.map(() => ({ attempts: 0, stalls: 0, failed: 0 }));
      const t0 = performance.now();
      clients.forEach((c, i) =>
        c.onEvent((e) => {
          if (e.type !== 'progress') return;
          progress[i] = { attempts: e.attempts, stalls: e.stalls, failed: e.failed };
          hooks.onProgress?.({
            mode, index, total: opts.modes.length,
            attempts: progress.reduce((s, p) => s + p.attempts, 0),
            target: opts.connections,
            stalls: progress.reduce((s, p) => s + p.stalls, 0),
            failed: progress.reduce((s, p) => s + p.failed, 0),
            elapsedMs: performance.now() - t0,
          });
        }),
      );
      for (const c of clients) c.send('start');
      // Bounded: the agents stop at their quota or duration; the watchdog allows one connect timeout more.
      const limitMs = opts.durationSec * 1000 + opts.connectTimeoutMs + 15_000;
      const results = await Promise.all(clients.map((c) => c.waitFor('result', limitMs)));
      const durationMs = Math.max(...results.map((r) => r.elapsedMs));
      await Promise.all(clients.map((c) => c.stop()));
      clients = [];

      // Let in-flight packets settle before the after-snapshot (a late SYN retransmit, a final RST).
      await new Promise((r) => setTimeout(r, 200));
      const after = await snapshot(topo);
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
      });
      if (results.some((r) => r.aborted)) interrupted = true;
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
      interrupted,
      environment,
      config,
      signatureBands: { description: TOLERANCE_DESCRIPTION, slowThresholdMs: SLOW_THRESHOLD_MS },
      modes,
      verdict: overallVerdict(modes.map((m) => m.verdict)),
      summary: summarize(modes),
    };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    phase('teardown');
    for (const c of clients) c.kill();
    if (server) await server.stop();
    await teardownTopology(plan).catch(() => undefined);
    await removeRules(ownedByRun(runId));
    await dropTablesCreatedByRun(state.state.tables);
    await deleteEntriesFromSubnet(plan.clientSubnet).catch(() => 0);
    await deleteEntriesFromSubnet(plan.serverSubnet).catch(() => 0);
    await state.remove();
  }
}

function toOutcome(r: TcpClientResultEvent): ClientOutcome {
  return { attempts: r.attempts, succeeded: r.succeeded, failed: r.failed, failures: r.failures, histogram: r.histogram };
}

/** Keep every nonzero delta plus the named keys (zero when absent). */
function pick(delta: Record<string, number>, keep: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(delta)) if (v !== 0 || keep.includes(k)) out[k] = v;
  for (const k of keep) if (!(k in out)) out[k] = 0;
  return out;
}

export function summarize(modes: readonly ModeResult[]): string {
  return modes
    .map((m) => `${m.mode}: ${m.verdict} (${m.attribution.conntrackRace} race drops, ${m.attribution.lostSyns} lost SYNs in ${m.attempts} attempts)`)
    .join('; ');
}
