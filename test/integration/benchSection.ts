/**
 * Run one `npm run bench` section (dist/bench/main.js SECTION) shrunk by its environment, into a temporary results
 * directory, and hand back what it printed and the one bench file it wrote (parsed). The directory is removed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../dist/bench/main.js', import.meta.url));

export interface BenchSectionRun<S> {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The bench files written (exactly one when the run went well). */
  files: string[];
  bench: { schema: string; runnerPeakRssMb: number; sections: Record<string, S> } | null;
}

export function runBenchSection<S>(section: string, env: Record<string, string>, timeoutMs: number): BenchSectionRun<S> {
  const dir = mkdtempSync(path.join(tmpdir(), `repro-bench-${section}-test-`));
  try {
    const r = spawnSync(process.execPath, [BENCH, section], { encoding: 'utf8', env: { ...process.env, REPRO_BENCH_DIR: dir, ...env }, timeout: timeoutMs });
    const files = readdirSync(dir).filter((f) => /^bench-.*\.json$/.test(f));
    const first = files[0];
    const bench = files.length === 1 && first ? (JSON.parse(readFileSync(path.join(dir, first), 'utf8')) as BenchSectionRun<S>['bench']) : null;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, files, bench };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
