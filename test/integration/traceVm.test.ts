import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCliEnv } from './cli.js';
import { underCi } from '../ci.js';
import type { HookRun, SelfTestResult } from '../../src/node/trace/selfTest.js';

/**
 * The exact hooks, which this host's kernel refuses (no kprobes, no ftrace function list), in a `--kernel` guest on
 * Debian's packaged kernel (REPRO_VM_TEST_KERNEL: the .deb .ci/run downloads): `repro trace --kernel` runs, in ONE
 * guest, the same bounded same-port race once per hook with the tracer attached. Ground truth is the guest kernel's
 * own insert_failed delta of the lab's NAT namespace and the race tool's connects that lost a SYN.
 */
const gate = capabilityGate();
const has = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { encoding: 'utf8' }).status === 0;
const bpftrace = execFileSync('sh', ['-c', 'command -v bpftrace || true'], { encoding: 'utf8' }).trim();
const busybox = ['/bin/busybox', '/usr/bin/busybox'].some((b) => existsSync(b));
const missing = !has('qemu-system-x86_64', ['--version']) ? 'qemu-system-x86_64 missing' : !busybox ? 'busybox missing' : !bpftrace ? 'bpftrace missing' : null;
if (missing && underCi()) throw new Error(`the trace --kernel test needs qemu-system-x86, busybox-static and bpftrace under CI: ${missing}`);
const skip = gate.skip ? gate.reason : missing;
const KERNEL = process.env['REPRO_VM_TEST_KERNEL'] ?? 'debian';
const HOOKS = ['fexit', 'kretprobe', 'kfree_skb-reason'] as const;

describe.skipIf(skip !== null)(`repro trace --kernel: every hook on the same race in one guest${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('fexit, kretprobe and the tracepoint each record every insert_failed of the race, and name both clients', async () => {
    const before = hostSnapshot();
    const t0 = Date.now();
    const r = await runCliEnv({ REPRO_VM_ACCEL: 'tcg' }, ['trace', '--kernel', KERNEL, ...HOOKS.flatMap((h) => ['--hook', h]), '--connections', '1000', '--json']);
    process.stderr.write(`trace --kernel ${KERNEL}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n${r.stderr.split('\n').filter((l) => l.startsWith('  guest: ')).join('\n')}\n`);
    expect(r.stdout, `no result; stderr:\n${r.stderr}`).not.toBe('');
    const result = JSON.parse(r.stdout) as SelfTestResult;
    expect(result.kernel).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
    expect(result.runs.map((x) => x.hook)).toEqual([...HOOKS]);
    const byHook = new Map<string, HookRun>(result.runs.map((x) => [x.hook, x]));
    for (const hook of HOOKS) {
      const run = byHook.get(hook);
      expect(run?.error, `${hook} attached`).toBeUndefined();
      if (!run) continue;
      // The race happened, counted by the kernel and by the race tool alike: one connect that lost a SYN per
      // insert_failed (measured: equal on every run so far).
      expect(run.insertFailed, `${hook}: the race dropped SYNs`).toBeGreaterThan(0);
      expect(run.stalls, `${hook}: the race tool's lost SYNs`).toBe(run.insertFailed);
      // The hook sees every failed insert: one record each, no more.
      expect(run.records, `${hook}: one record per insert_failed`).toBe(run.insertFailed);
      // And each is an insert race with its partner found (through conntrack's NEW events: the lab's RST ends the
      // partner's entry at once; the self-test keeps 16 rounds in flight so the guest's listener keeps up).
      expect(run.insertRaces, `${hook}: every record an insert race with its partner`).toBe(run.insertFailed);
      expect(run.clients).toEqual([...run.labClients].sort());
      expect(run.partners).toEqual([...run.labClients].sort());
    }
    expect(r.code).toBe(0);
    expect(hostSnapshot()).toEqual(before);
  }, 600_000);
});
