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
import { run } from '../host/exec.js';
import { TCP_SYN_DEFAULTS, validateTcpSynArgs } from '../scenarios/tcpSyn/options.js';
import { requireNetnsPrerequisites } from '../host/preflight.js';
import { errorMessage, UserError } from '../errors.js';
import { hostBusyCpuSeconds, perThousand, ratio } from './benchHost.js';
import { openTcpLab } from '../scenarios/shared/tcpLab.js';
import type { Topology } from '../backends/topology.js';
import { setMasqueradeMode } from '../host/iptables.js';
import { netCountersDelta } from '../host/netstat.js';
import type { MasqueradeMode } from '../types.js';
import { startSynCapture } from '../host/capture.js';

const SOURCE = fileURLToPath(new URL('../../src/bench/connectLoop.c', import.meta.url));

/** What one load did and cost. */
interface LoadRun {
  attempts: number;
  failed: number;
  elapsedMs: number;
  /** The load's own processes: CPU ms from the load's release to its end (the C loop: its whole life, which is
   * the same thing), and the largest peak RSS of one of them (KiB). */
  clientCpuMs: number;
  clientPeakRssKb: number;
  /** tcp client agents: the connect path they took. */
  connectPath?: string;
}

export interface LoadFigures {
  attempts: number;
  failed: number;
  elapsedMs: number;
  connectsPerSecond: number;
  /** Whole host (load, server, kernel NAT and softirq), per 1 000 connects. */
  cpuSecondsPer1000: number;
  /** The load's own processes only, per 1 000 connects. */
  clientCpuSecondsPer1000: number;
  clientPeakRssMb: number;
  connectPath?: string;
  serverListenOverflows: number;
  serverListenDrops: number;
}

export interface ModeRow {
  mode: MasqueradeMode;
  ours: LoadFigures;
  baseline: LoadFigures;
  ratio: number;
  withoutNativeEngine: LoadFigures;
  withoutNativeEngineRatio: number;
  /** repro's client agents again, with tcp-syn's SYN capture running where the NAT is (--capture on). */
  withCapture: LoadFigures & { capturedSyns: number; captureKernelDrops: number };
  /** 1 - connects/s with the capture / without it. */
  captureCost: number;
}

const mb = (kb: number): number => Math.round(kb / 102.4) / 10;

async function measure(t: Topology, load: () => Promise<LoadRun>): Promise<LoadFigures> {
  await t.clearNatEntries();
  const before = await t.readCounters(t.server);
  const c0 = await hostBusyCpuSeconds();
  const r = await load();
  const c1 = await hostBusyCpuSeconds();
  const after = await t.readCounters(t.server);
  const srv = netCountersDelta(before, after, ['TcpExtListenOverflows', 'TcpExtListenDrops']);
  return {
    attempts: r.attempts,
    failed: r.failed,
    elapsedMs: Math.round(r.elapsedMs),
    connectsPerSecond: Math.round((r.attempts / r.elapsedMs) * 1000),
    cpuSecondsPer1000: perThousand(c1 - c0, r.attempts),
    clientCpuSecondsPer1000: perThousand(r.clientCpuMs / 1000, r.attempts),
    clientPeakRssMb: mb(r.clientPeakRssKb),
    ...(r.connectPath ? { connectPath: r.connectPath } : {}),
    serverListenOverflows: srv['TcpExtListenOverflows'] ?? 0,
    serverListenDrops: srv['TcpExtListenDrops'] ?? 0,
  };
}

export async function benchTcpConnectRate(): Promise<{ lines: string[]; json: object }> {
  await requireNetnsPrerequisites();
  const connections = Number(process.env['REPRO_BENCH_CONNECTIONS'] ?? 120_000);
  const opts = validateTcpSynArgs({ ...TCP_SYN_DEFAULTS, connections, duration: 60 });
  const modes: MasqueradeMode[] = ['none', 'random-fully'];
  const binary = path.join(os.tmpdir(), `repro-connect-loop-${process.pid}`);
  await run('gcc', ['-O2', '-o', binary, SOURCE]).catch((err: unknown) => {
    throw new UserError(`gcc could not build the C baseline (apt-get install gcc): ${errorMessage(err)}`);
  });

  const lab = await openTcpLab({ command: 'npm run bench', clients: opts.clients, portRange: opts.portRange, serverPort: opts.serverPort, serverWorkers: opts.serverWorkers, mode: modes[0] ?? 'none' });
  const rows: ModeRow[] = [];
  let serverFigures: { acceptPath: string; accepted: number; cpuMs: number; peakRssMb: number } | null = null;
  try {
    const t = lab.topology;
    const perClient = Math.floor(connections / t.clients.length);

    const nodeLoad = async (connectPath: 'auto' | 'handle'): Promise<LoadRun> => {
      const results = await lab.runClients({
        workers: opts.workers, concurrency: opts.concurrency, connections: perClient, durationMs: 60_000,
        connectTimeoutMs: opts.connectTimeoutMs, close: 'rst', progressIntervalMs: 1000, connectPath,
      });
      return {
        attempts: results.reduce((s, r) => s + r.attempts, 0),
        failed: results.reduce((s, r) => s + r.failed, 0),
        elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
        clientCpuMs: results.reduce((s, r) => s + (r.resources?.cpuMs ?? 0) - (r.resourcesAtStart?.cpuMs ?? 0), 0),
        clientPeakRssKb: Math.max(...results.map((r) => r.resources?.peakRssKb ?? 0)),
        connectPath: [...new Set(results.map((r) => r.connectPath ?? 'unknown'))].join('+'),
      };
    };

    const cLoad = async (): Promise<LoadRun> => {
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
      const rs = outs.map((o) => JSON.parse(o) as { attempts: number; failed: number; elapsedMs: number; cpuMs: number; maxRssKb: number });
      return {
        attempts: rs.reduce((s, r) => s + r.attempts, 0),
        failed: rs.reduce((s, r) => s + r.failed, 0),
        elapsedMs: Math.max(...rs.map((r) => r.elapsedMs)),
        clientCpuMs: rs.reduce((s, r) => s + r.cpuMs, 0),
        clientPeakRssKb: Math.max(...rs.map((r) => r.maxRssKb)),
      };
    };

    for (const mode of modes) {
      await setMasqueradeMode(lab.snat, mode);
      process.stderr.write(`· ${mode}: C baseline\n`);
      const c = await measure(t, cLoad);
      process.stderr.write(`· ${mode}: repro's client agents\n`);
      const ours = await measure(t, () => nodeLoad('auto'));
      process.stderr.write(`· ${mode}: repro's client agents without the native engine\n`);
      const handle = await measure(t, () => nodeLoad('handle'));
      process.stderr.write(`· ${mode}: repro's client agents with the SYN capture\n`);
      const capture = await startSynCapture({ runId: t.runId, netns: t.natNetns, server: t.server.address, port: opts.serverPort, maxMs: 180_000 });
      const captured = await measure(t, () => nodeLoad('auto')).catch(async (err: unknown) => {
        await capture.cancel();
        throw err;
      });
      const read = await capture.stop();
      const withCapture = { ...captured, capturedSyns: read.syns.length, captureKernelDrops: read.kernelDrops };
      rows.push({
        mode, ours, baseline: c, ratio: ratio(ours.connectsPerSecond, c.connectsPerSecond), withoutNativeEngine: handle, withoutNativeEngineRatio: ratio(handle.connectsPerSecond, c.connectsPerSecond),
        withCapture, captureCost: Math.round((1 - captured.connectsPerSecond / ours.connectsPerSecond) * 1000) / 1000,
      });
    }
    lab.server.send('stats');
    const stats = await lab.server.waitFor('stats', 10_000);
    serverFigures = { acceptPath: stats.acceptPath ?? 'unknown', accepted: stats.accepted, cpuMs: stats.resources?.cpuMs ?? 0, peakRssMb: mb(stats.resources?.peakRssKb ?? 0) };
  } finally {
    await lab.close();
    await run('rm', ['-f', binary], { check: false });
  }

  const json = {
    benchmark: 'tcp-connect-rate',
    config: { clients: opts.clients, workers: opts.workers, concurrency: opts.concurrency, connectionsPerMode: connections, close: 'rst' },
    baseline: 'src/bench/connectLoop.c (gcc -O2), same clients, same in-flight count, same server agent, same run',
    modes: rows,
    server: serverFigures,
  };
  const fig = (f: LoadFigures): string =>
    `${f.connectsPerSecond}/s, ${f.clientCpuSecondsPer1000} client CPU-s/1000, ${f.cpuSecondsPer1000} host CPU-s/1000`;
  const lines = rows.flatMap((r) => [
    `tcp ${r.mode}: ours ${fig(r.ours)} (${r.ours.connectPath ?? '?'}) · C ${fig(r.baseline)} · ratio ${r.ratio}`,
    `tcp ${r.mode}: without the native engine ${fig(r.withoutNativeEngine)} · ratio ${r.withoutNativeEngineRatio}`,
    `tcp ${r.mode}: with the SYN capture ${fig(r.withCapture)} · cost ${Math.round(r.captureCost * 1000) / 10} % of the rate · ${r.withCapture.capturedSyns} SYN copies captured, ${r.withCapture.captureKernelDrops} dropped by the kernel`,
    `tcp ${r.mode}: server ListenOverflows/ListenDrops ours ${r.ours.serverListenOverflows}/${r.ours.serverListenDrops}, ` +
      `C ${r.baseline.serverListenOverflows}/${r.baseline.serverListenDrops}; client peak RSS ours ${r.ours.clientPeakRssMb} MB, C ${r.baseline.clientPeakRssMb} MB`,
  ]);
  if (serverFigures) lines.push(`tcp server agent: ${serverFigures.acceptPath} accepts, ${serverFigures.accepted} accepted, peak RSS ${serverFigures.peakRssMb} MB`);
  return { lines, json };
}
