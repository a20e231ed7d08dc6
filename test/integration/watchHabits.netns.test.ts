import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { CLI, runCli } from './cli.js';
import { buildRaceLab } from './raceLab.js';
import { scrape } from './traceCli.js';

const gate = capabilityGate();

/** The kernel's own count, read apart from the code under test. */
function kernelInsertFailed(netns: string): number {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'conntrack', '-S'], { encoding: 'utf8' });
  return [...out.matchAll(/\binsert_failed=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An empty namespace of this test, removed by the callback's end. */
async function withNetns<T>(tag: string, body: (ns: string) => Promise<T>): Promise<T> {
  const ns = `repro-watch${tag}-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    return await body(ns);
  } finally {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

const INTERVAL_LINE = /^\d\d:\d\d:\d\d \S+ insert_failed \+\d+/;

describe.skipIf(gate.skip)(`repro watch habits${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('--count N prints N intervals within 100 columns and stops by itself; --changes-only prints no +0 line', async () => {
    const host = hostSnapshot();
    await withNetns('count', async (ns) => {
      const [all, changes] = await Promise.all([
        runCli(['watch', '--netns', ns, '--interval', '200ms', '--count', '3']),
        runCli(['watch', '--netns', ns, '--interval', '200ms', '--count', '3', '--changes-only']),
      ]);
      expect(all.code, all.stderr).toBe(0);
      const lines = all.stdout.trim().split('\n');
      expect(lines.filter((l) => INTERVAL_LINE.test(l))).toHaveLength(3);
      for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(100);
      expect(lines.at(-1)).toBe(`${ns}: since the start insert_failed +0  drop +0  clashres +0  early_drop +0`);
      expect(all.stderr).toContain(`watching ${ns}: conntrack stats over`);
      expect(all.stderr).not.toMatch(/SIG/);
      // An idle namespace moves nothing: only the totals.
      expect(changes.code, changes.stderr).toBe(0);
      expect(changes.stdout).toBe(`${ns}: since the start insert_failed +0  drop +0  clashres +0  early_drop +0\n`);
    });
    expect(hostSnapshot()).toEqual(host);
  }, 60_000);

  it('--json is NDJSON: one object an interval with the kernel figures, then the totals', async () => {
    await withNetns('json', async (ns) => {
      const r = await runCli(['watch', '--netns', ns, '--interval', '0.2', '--count', '2', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const objects = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; netns: string; delta: Record<string, number>; limit: number; entries: number });
      expect(objects.map((o) => o.type)).toEqual(['interval', 'interval', 'total']);
      const limit = Number(execFileSync('cat', ['/proc/sys/net/netfilter/nf_conntrack_max'], { encoding: 'utf8' }));
      for (const o of objects.slice(0, 2)) {
        expect(o.netns).toBe(ns);
        expect(o.limit).toBe(limit);
        expect(o.delta['insert_failed']).toBe(0);
        expect(typeof o.entries).toBe('number');
      }
    });
  }, 60_000);

  it('--changes-only on a namespace where the race happens: only the lines that moved, adding up to the kernel count', async () => {
    const host = hostSnapshot();
    const lab = buildRaceLab();
    try {
      const before = kernelInsertFailed(lab.router);
      const child = spawn(process.execPath, [CLI, 'watch', '--netns', lab.router, '--interval', '300ms', '--changes-only'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      for (let i = 0; i < 100 && !stderr.includes('watching'); i++) await sleep(100);
      await lab.race(400);
      await sleep(1200);
      const made = kernelInsertFailed(lab.router) - before;
      expect(made).toBeGreaterThan(0);
      child.kill('SIGINT');
      expect(await closed).toBe(0);
      const lines = stdout.split('\n').filter((l) => INTERVAL_LINE.test(l));
      expect(lines.length).toBeGreaterThan(0);
      // Every printed interval moved a counter; none is all +0.
      for (const l of lines) expect(l, l).toMatch(/(insert_failed|drop|clashres|early_drop) \+[1-9]/);
      const sum = lines.map((l) => Number(/insert_failed \+(\d+)/.exec(l)?.[1])).reduce((s, n) => s + n, 0);
      expect(sum).toBe(made);
    } finally {
      lab.destroy();
    }
    expect(hostSnapshot()).toEqual(host);
  }, 90_000);

  it('serves repro_build_info and a read-error gauge that turns 1 when the namespace goes away; :PORT binds every address', async () => {
    const ns = `repro-watchgone-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    let deleted = false;
    const child = spawn(process.execPath, [CLI, 'watch', '--netns', ns, '--interval', '200ms', '--prometheus', ':0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.stdout.resume();
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      for (let i = 0; i < 150 && !/metrics on /.test(stderr); i++) await sleep(100);
      // Every address: the unspecified IPv6 address (dual stack), reached here over IPv4 loopback.
      const port = /metrics on http:\/\/\[::\]:(\d+)\/metrics/.exec(stderr)?.[1];
      expect(port, stderr).toBeDefined();
      const url = `http://127.0.0.1:${port}/metrics`;
      const version = (await runCli(['--version'])).stdout.trim();
      const first = await scrape(url);
      expect(first).toContain(`repro_build_info{version="${version}",nodejs="${process.version}"} 1`);
      expect(first).toMatch(new RegExp(`^repro_conntrack_read_error\\{netns="${ns}"\\} 0$`, 'm'));
      execFileSync('ip', ['netns', 'del', ns]);
      deleted = true;
      await sleep(800);
      expect(await scrape(url)).toMatch(new RegExp(`^repro_conntrack_read_error\\{netns="${ns}"\\} 1$`, 'm'));
      expect(stderr).toMatch(new RegExp(`^! ${ns}: `, 'm'));
      child.kill('SIGTERM');
      expect(await closed).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (!deleted) execFileSync('ip', ['netns', 'del', ns]);
    }
  }, 60_000);
});
