import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { buildRaceLab } from './raceLab.js';
import { startTrace } from './traceCli.js';
import { PODS_LOG_ROOT_ENV } from '../../src/node/trace/podOwners.js';
import { underCi } from '../ci.js';

const gate = capabilityGate();
const bpftrace = execFileSync('sh', ['-c', 'command -v bpftrace || true'], { encoding: 'utf8' }).trim();
if (!bpftrace && underCi()) throw new Error('the trace tests need bpftrace under CI (.ci/run installs it)');
const skip = gate.skip ? gate.reason : !bpftrace ? 'bpftrace is not installed' : null;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fsType = (path: string): string => execFileSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).trim();

function insertFailed(netns: string): number {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'conntrack', '-S'], { encoding: 'utf8' });
  return [...out.matchAll(/\binsert_failed=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
}

/**
 * Two "pods" made of real kernel objects, as a kubelet would leave them: a process in each race-lab client's network
 * namespace, placed in a cgroup v2 directory named as kubelet names it (one systemd-driver/containerd path, one
 * cgroupfs-driver path), and a pods log root holding `<namespace>_<name>_<uid>` directories. No runtime is asked.
 */
describe.skipIf(skip !== null)(`repro trace names pods from cgroups and /var/log/pods${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('each insert-race record names the pod it hit and the pod it raced (namespace and name)', async () => {
    const host = hostSnapshot();
    // cgroup v2 where the host mounts it; on a v1 host, the unified hierarchy mounted on a directory of ours.
    const mounted = fsType('/sys/fs/cgroup') === 'cgroup2fs' ? null : mkdtempSync(join(tmpdir(), 'repro-cg2-'));
    if (mounted) execFileSync('mount', ['-t', 'cgroup2', 'none', mounted]);
    const base = join(mounted ?? '/sys/fs/cgroup', `repro-podnames-${process.pid}`);
    const logRoot = mkdtempSync(join(tmpdir(), 'repro-pods-'));
    const uids = ['3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b', '7e6d5c4b-3a29-4180-b7c6-d5e4f3a2b1c0'] as const;
    const ids = ['c0'.repeat(32), 'c1'.repeat(32)] as const;
    const leaves = [
      join(base, 'kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${uids[0].replace(/-/g, '_')}.slice`, `cri-containerd-${ids[0]}.scope`),
      join(base, 'kubepods', 'burstable', `pod${uids[1]}`, ids[1]),
    ];
    const pods = [
      { namespace: 'team-a', name: 'web-0' },
      { namespace: 'team-b', name: 'api-7f9c4-x2k' },
    ];
    const lab = buildRaceLab();
    const sleepers: ChildProcess[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        mkdirSync(join(logRoot, `${pods[i]?.namespace}_${pods[i]?.name}_${uids[i]}`));
        mkdirSync(leaves[i] ?? '', { recursive: true });
        // `ip netns exec` execs its command: the pid is sleep's, inside the client's namespace.
        const p = spawn('ip', ['netns', 'exec', lab.clients[i] ?? '', 'sleep', '300'], { stdio: 'ignore' });
        sleepers.push(p);
        writeFileSync(join(leaves[i] ?? '', 'cgroup.procs'), String(p.pid));
      }
      // Ground truth apart from the code under test: the kernel's own view of each sleeper.
      expect(readFileSync(`/proc/${sleepers[0]?.pid}/cgroup`, 'utf8')).toContain(`kubepods-besteffort-pod${uids[0].replace(/-/g, '_')}.slice/cri-containerd-${ids[0]}.scope`);
      expect(readFileSync(`/proc/${sleepers[1]?.pid}/cgroup`, 'utf8')).toContain(`/kubepods/burstable/pod${uids[1]}/${ids[1]}`);
      const t = await startTrace(['--netns', lab.router], { ...process.env, [PODS_LOG_ROOT_ENV]: logRoot });
      const before = insertFailed(lab.router);
      const race = await lab.race(300);
      await sleep(1500);
      const made = insertFailed(lab.router) - before;
      const { code, records, stderr } = await t.stop();
      expect(code, stderr).toBe(0);
      expect(made).toBeGreaterThan(0);
      const races = records.filter((r) => r.kind === 'insert-race');
      expect(races).toHaveLength(made);
      const byAddr: Record<string, { namespace: string; name: string }> = { '10.77.1.2': pods[0] as { namespace: string; name: string }, '10.77.2.2': pods[1] as { namespace: string; name: string } };
      for (const r of races) {
        const mine = byAddr[r.original.src];
        const theirs = byAddr[r.partner?.original.src ?? ''];
        expect(mine).toBeDefined();
        expect(theirs).toBeDefined();
        expect(mine).not.toBe(theirs);
        expect(r.client).toEqual({ id: `pod:${mine?.namespace}/${mine?.name}`, pod: mine?.name, namespace: mine?.namespace });
        expect(r.partner?.client).toEqual({ id: `pod:${theirs?.namespace}/${theirs?.name}`, pod: theirs?.name, namespace: theirs?.namespace });
        // The drop happened in the router's (named) namespace: still named so.
        expect(r.netns).toBe(`netns:${lab.router}`);
      }
      process.stderr.write(`trace pods: ${race.rounds} rounds, insert_failed +${made} (kernel) = ${races.length} records, first: ${JSON.stringify(races[0])}\n`);
    } finally {
      for (const p of sleepers) {
        const gone = new Promise((r) => p.once('close', r));
        p.kill('SIGKILL');
        await gone;
      }
      // Deepest first: a cgroup directory goes only when it has no process and no child (else EBUSY).
      const dirs = new Set<string>();
      for (const leaf of leaves) for (let d = leaf; d.startsWith(base); d = join(d, '..')) dirs.add(d);
      for (const d of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
        try {
          rmdirSync(d);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      if (mounted) {
        execFileSync('umount', [mounted]);
        rmdirSync(mounted);
      }
      rmSync(logRoot, { recursive: true, force: true });
      lab.destroy();
    }
    expect(hostSnapshot()).toEqual(host);
  }, 120_000);
});
