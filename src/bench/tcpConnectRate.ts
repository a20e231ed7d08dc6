/**
 * `npm run bench`: connect attempts per second through the NAT, per MASQUERADE mode, on the netns backend,
 * with the default topology. Written to results/bench-<time>.json. Needs root (it builds the topology).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { runTcpSynNetns } from '../scenarios/tcpSyn.js';
import { TCP_SYN_DEFAULTS, validateTcpSynArgs } from '../commands/tcpSynOptions.js';
import { requireNetnsPrerequisites } from '../preflight.js';
import { errorMessage, UserError } from '../errors.js';

async function main(): Promise<void> {
  await requireNetnsPrerequisites();
  const connections = Number(process.env['REPRO_BENCH_CONNECTIONS'] ?? 30_000);
  const opts = validateTcpSynArgs({ ...TCP_SYN_DEFAULTS, connections, duration: 60 });
  const t0 = Date.now();
  const r = await runTcpSynNetns(opts, 'npm run bench', { onPhase: (t) => process.stderr.write(`· ${t}\n`) });
  const rows = r.modes.map((m) => ({
    mode: m.mode,
    attempts: m.attempts,
    durationMs: m.durationMs,
    connectsPerSecond: m.connectsPerSecond,
    p50Ms: m.latencyMs.p50,
    p99Ms: m.latencyMs.p99,
    serverListenDrops: m.counters.server['TcpExtListenDrops'] ?? 0,
  }));
  const base = rows.find((x) => x.mode === 'none')?.connectsPerSecond ?? 0;
  const bench = {
    schema: 'repro/bench@1',
    benchmark: 'tcp-connect-rate',
    at: new Date().toISOString(),
    host: { kernel: os.release(), cpus: os.cpus().length, node: process.version },
    config: { clients: opts.clients, workers: opts.workers, concurrency: opts.concurrency, connections, close: opts.close },
    baseline: 'mode none of the same run',
    modes: rows.map((x) => ({ ...x, ratioToBaseline: base > 0 ? Math.round((x.connectsPerSecond / base) * 100) / 100 : null })),
    wallSeconds: Math.round((Date.now() - t0) / 100) / 10,
  };
  await mkdir('results', { recursive: true });
  const file = `results/bench-${bench.at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`;
  await writeFile(file, JSON.stringify(bench, null, 2) + '\n');
  for (const x of bench.modes) {
    process.stdout.write(`${x.mode.padEnd(13)} ${String(x.connectsPerSecond).padStart(7)} connects/s  (x${x.ratioToBaseline} of none)  p50 ${x.p50Ms} ms  p99 ${x.p99Ms} ms\n`);
  }
  process.stdout.write(`written: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${errorMessage(err)}\n`);
  process.exitCode = err instanceof UserError ? 2 : 1;
});
