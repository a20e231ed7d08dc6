/**
 * Bench section `tcp`: the TCP load generator's speed against a baseline measured in the same run.
 * One netns topology, one server agent; for each MASQUERADE mode, the same number of connects from the same
 * client namespaces twice: (a) the harness's own Node client agents, (b) a minimal C epoll connect loop
 * (src/bench/connectLoop.c, built here with gcc). Reported per mode: connects/s of each, the ratio ours / C,
 * host CPU seconds per 1 000 connects (from /proc/stat), the server's ListenOverflows/ListenDrops at that rate
 * (its headroom). src/bench/main.ts writes it to results/bench-<time>.json.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { run } from '../exec.js';
import { TCP_SYN_DEFAULTS, validateTcpSynArgs } from '../commands/tcpSynOptions.js';
import { requireNetnsPrerequisites } from '../preflight.js';
import { errorMessage, UserError } from '../errors.js';
import { hostBusyCpuSeconds, perThousand, ratio } from './benchHost.js';
import { RunSession } from '../runner/runSession.js';
import { buildNetnsTopology } from '../backends/netns.js';
import type { Topology } from '../backends/topology.js';
import {
  installRules, setMasqueradeMode, tablesToBeCreated, type SnatTopology,
} from '../nat/iptables.js';
import { deleteEntriesFromSubnet } from '../net/conntrackTable.js';
import { netCountersDelta } from '../counters/netstat.js';
import type { AgentConnection } from '../runner/agentProcess.js';
import type { TcpClientConfig, TcpServerConfig } from '../agents/protocol.js';
import type { MasqueradeMode } from '../types.js';

const SOURCE = fileURLToPath(new URL('../../src/bench/connectLoop.c', import.meta.url));

interface LoadFigures {
  attempts: number;
  failed: number;
  elapsedMs: number;
  connectsPerSecond: number;
  cpuSecondsPer1000: number;
  serverListenDrops: number;
}

async function measure(t: Topology, load: () => Promise<{ attempts: number; failed: number; elapsedMs: number }>): Promise<LoadFigures> {
  await deleteEntriesFromSubnet(t.clientSubnet);
  const before = await t.readCounters(t.server);
  const c0 = await hostBusyCpuSeconds();
  const r = await load();
  const c1 = await hostBusyCpuSeconds();
  const after = await t.readCounters(t.server);
  const srv = netCountersDelta(before, after, ['TcpExtListenDrops']);
  return {
    ...r,
    connectsPerSecond: Math.round((r.attempts / r.elapsedMs) * 1000),
    cpuSecondsPer1000: perThousand(c1 - c0, r.attempts),
    serverListenDrops: srv['TcpExtListenDrops'] ?? 0,
  };
}

export async function benchTcpConnectRate(): Promise<{ lines: string[]; json: object }> {
  await requireNetnsPrerequisites();
  const connections = Number(process.env['REPRO_BENCH_CONNECTIONS'] ?? 30_000);
  const opts = validateTcpSynArgs({ ...TCP_SYN_DEFAULTS, connections, duration: 60 });
  const modes: MasqueradeMode[] = ['none', 'random-fully'];
  const binary = path.join(os.tmpdir(), `repro-connect-loop-${process.pid}`);
  await run('gcc', ['-O2', '-o', binary, SOURCE]).catch((err: unknown) => {
    throw new UserError(`gcc could not build the C baseline (apt-get install gcc): ${errorMessage(err)}`);
  });

  const session = await RunSession.open('npm run bench');
  const { runId, state } = session;
  let topo: Topology | null = null;
  let server: AgentConnection | null = null;
  const rows: Record<string, unknown>[] = [];
  try {
    topo = await buildNetnsTopology(
      { runId, clients: opts.clients, portRange: opts.portRange, serverSysctls: { 'net.core.somaxconn': '65535', 'net.ipv4.tcp_max_syn_backlog': '65535' }, clientSysctls: {} },
      state,
    );
    const t = topo;
    const snat: SnatTopology = { runId, clientSubnet: t.clientSubnet, clientBridge: t.clientBridge, serverSubnet: t.serverSubnet, forwardHook: t.forwardHook };
    for (const table of await tablesToBeCreated()) await state.add('tables', table);
    await installRules(snat);
    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: 'rst', workers: opts.serverWorkers, backlog: 65535 };
    server = await t.startAgent(t.server, { label: 'server agent', agent: 'tcpServer', config: serverCfg, priority: 'high' });
    await server.waitFor('ready', 30_000);
    const perClient = Math.floor(connections / t.clients.length);

    const nodeLoad = async (): Promise<{ attempts: number; failed: number; elapsedMs: number }> => {
      const agents = await Promise.all(
        t.clients.map((c, i) => {
          const cfg: TcpClientConfig = {
            host: t.server.address, port: opts.serverPort, workers: opts.workers, concurrency: opts.concurrency,
            connections: perClient, durationMs: 60_000, connectTimeoutMs: opts.connectTimeoutMs, close: 'rst', progressIntervalMs: 1000,
          };
          return t.startAgent(c, { label: `client ${i}`, agent: 'tcpClient', config: cfg, priority: 'normal' });
        }),
      );
      await Promise.all(agents.map((a) => a.waitFor('ready', 30_000)));
      for (const a of agents) a.send('start');
      const results = await Promise.all(agents.map((a) => a.waitFor('result', 120_000)));
      await Promise.all(agents.map((a) => a.stop()));
      return {
        attempts: results.reduce((s, r) => s + r.attempts, 0),
        failed: results.reduce((s, r) => s + r.failed, 0),
        elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
      };
    };

    const cLoad = async (): Promise<{ attempts: number; failed: number; elapsedMs: number }> => {
      const outs = await Promise.all(
        t.clients.map(
          (c) =>
            new Promise<string>((resolve, reject) => {
              const p = spawn('ip', ['netns', 'exec', c.name, binary, t.server.address, String(opts.serverPort), String(opts.workers * opts.concurrency), String(perClient), '60000']);
              let out = '';
              p.stdout.on('data', (d: Buffer) => (out += d.toString()));
              p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`connect loop exited ${code}`))));
            }),
        ),
      );
      const rs = outs.map((o) => JSON.parse(o) as { attempts: number; failed: number; elapsedMs: number });
      return { attempts: rs.reduce((s, r) => s + r.attempts, 0), failed: rs.reduce((s, r) => s + r.failed, 0), elapsedMs: Math.max(...rs.map((r) => r.elapsedMs)) };
    };

    for (const mode of modes) {
      await setMasqueradeMode(snat, mode);
      process.stderr.write(`· ${mode}: C baseline\n`);
      const c = await measure(t, cLoad);
      process.stderr.write(`· ${mode}: repro's Node agents\n`);
      const ours = await measure(t, nodeLoad);
      rows.push({ mode, ours, baseline: c, ratio: ratio(ours.connectsPerSecond, c.connectsPerSecond) });
    }
  } finally {
    if (server) await server.stop();
    if (topo) await topo.teardown().catch(() => undefined);
    await session.removeHostState();
    await session.close();
    await run('rm', ['-f', binary], { check: false });
  }

  const json = {
    benchmark: 'tcp-connect-rate',
    config: { clients: opts.clients, workers: opts.workers, concurrency: opts.concurrency, connectionsPerMode: connections, close: 'rst' },
    baseline: 'src/bench/connectLoop.c (gcc -O2), same clients, same in-flight count, same server agent, same run',
    modes: rows,
  };
  const lines = (rows as { mode: string; ours: LoadFigures; baseline: LoadFigures; ratio: number }[]).map(
    (r) =>
      `tcp ${r.mode.padEnd(13)} ours ${r.ours.connectsPerSecond}/s (${r.ours.cpuSecondsPer1000} CPU-s/1000)  ` +
      `C ${r.baseline.connectsPerSecond}/s (${r.baseline.cpuSecondsPer1000} CPU-s/1000)  ratio ${r.ratio}  ` +
      `server ListenDrops ours ${r.ours.serverListenDrops}, C ${r.baseline.serverListenDrops}`,
  );
  return { lines, json };
}
