import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { runCli, type CliRun } from './cli.js';

/**
 * `repro cleanup` removes by the harness's own records and exact name shapes, never by a look-alike: a container
 * labelled repro.run with another value or name, a process whose command line mentions tcpdump and a capture
 * directory. And --dry-run lists without removing.
 */
const gate = capabilityGate();
const docker = dockerGate();

/** cleanup takes the host's run lock: while another run holds it, wait (other runs on this host are short). */
async function cleanupCli(args: string[]): Promise<CliRun> {
  for (let i = 0; ; i++) {
    const r = await runCli(['cleanup', ...args]);
    if (r.code !== 2 || !/holds the run lock|holds \/run\/repro\/lock/.test(r.stderr) || i >= 60) return r;
    await new Promise((res) => setTimeout(res, 2000));
  }
}

describe.skipIf(gate.skip)(`repro cleanup decides by records and exact shapes${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  const id = randomBytes(3).toString('hex');
  const ns = `repro-${id}-c0`;
  const stateFile = `/run/repro/${id}.json`;
  afterAll(() => {
    // Gone already when the test passed.
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    rmSync(stateFile, { force: true });
  });

  it('--dry-run lists a dead run\'s namespace and state file and removes nothing; without it they go', { timeout: 180_000 }, async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    mkdirSync('/run/repro', { recursive: true });
    // A dead run's record: its pid is beyond pid_max.
    writeFileSync(stateFile, JSON.stringify({ runId: id, pid: 2 ** 22 + 11, startedAt: '', netns: [ns], links: [], subnets: [], containers: [], networks: [], tables: [] }));
    const dry = await cleanupCli(['--run', id, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('would remove (--dry-run: nothing removed):');
    expect(dry.stderr).toContain(`namespaces (1): ${ns}`);
    expect(dry.stderr).toContain(`state files (1): ${stateFile}`);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(ns);
    expect(existsSync(stateFile)).toBe(true);
    const real = await cleanupCli(['--run', id]);
    expect(real.code, real.stderr).toBe(0);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(ns);
    expect(existsSync(stateFile)).toBe(false);
  });

  it('a process whose command line names tcpdump and a capture directory is not signalled; a look-alike directory stays', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), `repro-capture-${id}-`));
    // Someone else's sleep, named like a capture of this run.
    const decoy = spawn('bash', ['-c', `exec -a "tcpdump -w ${dir}/syns.pcap" sleep 120`], { stdio: 'ignore' });
    const lookalike = path.join(tmpdir(), `repro-capture-${id}-notmkdtemp-shape`);
    mkdirSync(lookalike, { mode: 0o700 });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const r = await cleanupCli(['--run', id]);
      expect(r.code, r.stderr).toBe(0);
      expect(decoy.exitCode).toBeNull();
      expect(decoy.signalCode).toBeNull();
      expect(existsSync(lookalike)).toBe(true);
      // The run's real capture directory (mkdtemp's shape, ours, 0700) is removed.
      expect(existsSync(dir)).toBe(false);
    } finally {
      decoy.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      rmSync(lookalike, { recursive: true, force: true });
    }
  });

  it.skipIf(docker.skip)('containers labelled repro.run with another value or name shape stay', { timeout: 180_000 }, async () => {
    const names = [`bystander-${id}`, `repro-${id}-c9`];
    const labels = [id, `${id}-not-a-run`];
    // An empty image of our own: the containers are created, never started.
    const image = `repro-test-empty:${id}`;
    execFileSync('docker', ['import', '-', image], { input: execFileSync('tar', ['-c', '--files-from', '/dev/null']), stdio: ['pipe', 'ignore', 'inherit'] });
    try {
      // bystander: right label value, wrong name; repro-<id>-c9: right name, label value not the run id.
      for (const [i, n] of names.entries()) {
        execFileSync('docker', ['create', '--name', n, '--label', `repro.run=${labels[i]}`, image, '/true'], { stdio: 'ignore' });
      }
      const r = await cleanupCli(['--run', id]);
      expect(r.code, r.stderr).toBe(0);
      const left = execFileSync('docker', ['ps', '-a', '--filter', `name=${id}`, '--format', '{{.Names}}'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
      expect(left).toEqual([...names].sort());
    } finally {
      for (const n of names) spawnSync('docker', ['rm', '-f', n], { stdio: 'ignore' });
      spawnSync('docker', ['rmi', image], { stdio: 'ignore' });
    }
  });
});
