/**
 * `npm run bench [-- SECTION...]` (root): the load generators' speed against baselines measured in the same run,
 * on the netns backend. Sections: `tcp` (connects/s vs a C epoll connect loop), `dns` (queries/s vs dnsperf),
 * `burst` (race drops per second and per 100 000 attempts, steady load vs burst load).
 * All of them by default. One file, results/bench-<time>.json, holds every section that ran.
 */
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../atomicWrite.js';
import os from 'node:os';
import { errorMessage, UserError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { benchTcpConnectRate } from './tcpConnectRate.js';
import { benchDnsQueryRate } from './dnsQueryRate.js';
import { benchTcpBurst } from './tcpBurst.js';

const SECTIONS: Record<string, () => Promise<{ lines: string[]; json: object }>> = {
  tcp: benchTcpConnectRate,
  dns: benchDnsQueryRate,
  burst: benchTcpBurst,
};

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  for (const name of asked) {
    if (!(name in SECTIONS)) throw new UserError(`unknown bench section "${name}" (known: ${Object.keys(SECTIONS).join(', ')})`);
  }
  const names = asked.length > 0 ? asked : Object.keys(SECTIONS);
  const at = new Date().toISOString();
  const started = Date.now();
  const sections: Record<string, object> = {};
  const lines: string[] = [];
  for (const name of names) {
    const run = SECTIONS[name];
    if (!run) continue;
    process.stderr.write(`bench ${name}\n`);
    const r = await run();
    sections[name] = r.json;
    lines.push(...r.lines);
  }
  const bench = {
    schema: 'repro/bench@2',
    at,
    host: { kernel: os.release(), cpus: os.cpus().length, node: process.version, loadAverage1mAtEnd: os.loadavg()[0] },
    sections,
    wallSeconds: Math.round((Date.now() - started) / 100) / 10,
    runnerPeakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  const dir = process.env['REPRO_BENCH_DIR'] ?? 'results';
  await mkdir(dir, { recursive: true });
  const file = `${dir}/bench-${at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`;
  await writeFileAtomic(file, JSON.stringify(bench, null, 2) + '\n', { replace: false });
  for (const l of lines) process.stdout.write(l + '\n');
  process.stdout.write(`runner peak RSS ${bench.runnerPeakRssMb} MB · ${bench.wallSeconds} s · written: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${errorMessage(err)}\n`);
  process.exitCode = err instanceof UserError ? EXIT.USAGE : EXIT.FAILED;
});
