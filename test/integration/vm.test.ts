import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli, runCliEnv } from './cli.js';
import { interruptedRun, killedRun } from './expectations.js';
import type { ResultFile } from '../../src/types.js';
import { underCi } from '../ci.js';

/**
 * `--kernel`: a real guest under TCG (KVM is not usable on these machines) booting Debian's packaged kernel, with
 * the scenario inside. REPRO_VM_TEST_KERNEL names the kernel (.ci/run fetches the .deb); default: "debian".
 */
const gate = capabilityGate();
const qemu = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
const busybox = ['/bin/busybox', '/usr/bin/busybox'].some((b) => existsSync(b));
const vmMissing = qemu.status !== 0 ? 'qemu-system-x86_64 missing' : !busybox ? 'busybox missing' : null;
if (vmMissing && underCi()) throw new Error(`the VM test needs qemu-system-x86 and busybox-static under CI: ${vmMissing}`);
const skip = gate.skip || vmMissing !== null;
const KERNEL = process.env['REPRO_VM_TEST_KERNEL'] ?? 'debian';
const ENV = { REPRO_VM_ACCEL: 'tcg' };

/** QEMU processes of the harness's VMs still alive (their title and -name are repro-vm-<run id>). */
function reproQemus(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('qemu-system') && cmd.includes('repro-vm-')) out.push(`${pid} ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Run directories left in the cache's vm/ (last-console.log is the cache's own). */
function vmWorkDirs(): string[] {
  const dir = path.join(process.env['REPRO_CACHE_DIR'] || '/var/cache/repro', 'vm');
  return existsSync(dir) ? readdirSync(dir).filter((n) => n !== 'last-console.log') : [];
}

function expectHostAsFound(before: ReturnType<typeof hostSnapshot>): void {
  expect(hostSnapshot()).toEqual(before);
  expect(reproQemus()).toEqual([]);
  expect(vmWorkDirs()).toEqual([]);
  expect(existsSync('/run/repro/vm')).toBe(false);
}

describe.skipIf(skip)(`repro tcp-syn --kernel (a QEMU guest under TCG)${skip ? ` — skipped: ${gate.reason || vmMissing}` : ''}`, () => {
  it('runs inside the guest on its kernel, with its own SYN schedule, counts that add up, and the host as found', async () => {
    const before = hostSnapshot();
    const out = mkdtempSync(path.join(tmpdir(), 'repro-vm-test-'));
    const t0 = Date.now();
    const r = await runCliEnv(ENV, ['tcp-syn', '--load', 'steady', '--kernel', KERNEL, '--modes', 'none', '--connections', '2000', '--json', '--out', out]);
    const wallS = (Date.now() - t0) / 1000;
    process.stderr.write(`vm test: tcp-syn --kernel ${KERNEL} --connections 2000 took ${wallS.toFixed(1)} s\n`);
    expect(r.stderr).toContain('verdict:');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as ResultFile;
    expect(JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'))).toEqual(result);
    rmSync(out, { recursive: true, force: true });

    const env = result.environment;
    // The guest's kernel: the release the package names (e.g. linux-image-6.1.0-57-amd64), not the host's.
    expect(env.vm).toMatchObject({ accel: 'tcg', cpus: 2, memoryMb: 2048 });
    expect(env.vm?.qemu).toMatch(/^\d+\.\d+/);
    const pkgRelease = /linux-image-([^=\s/]+?)(?:_|=|\.deb|$)/.exec(env.vm?.kernelSource ?? '')?.[1];
    if (pkgRelease) expect(env.kernel).toBe(pkgRelease);
    expect(env.kernel).not.toBe(os.release());
    // Its upstream version as the guest's /proc/version says it (Debian 6.1.192-3 ...), never uname's placeholder 6.1.0.
    if (/VERSION_CODENAME=bookworm/.test(readFileSync('/etc/os-release', 'utf8'))) {
      expect(env.kernelVersion).toMatchObject({ source: 'proc-version', exact: true });
      expect(env.kernelVersion.version).toMatch(/^6\.1\.[1-9]\d*$/);
      const pkgVersion = /=(\d+\.\d+\.\d+)-/.exec(env.vm?.kernelSource ?? '')?.[1];
      if (pkgVersion) expect(env.kernelVersion.version).toBe(pkgVersion);
    }
    expect(env.cpus).toBe(2);
    expect(env.backend).toBe('netns');
    // Its own SYN schedule: 6.1 has no linear SYN timeouts (6.5+), which the host's 6.x kernel shows.
    expect(env.conntrackSysctls).toHaveProperty('net.ipv4.tcp_syn_retries');
    expect(env.conntrackSysctls).not.toHaveProperty('net.ipv4.tcp_syn_linear_timeouts');
    if (existsSync('/proc/sys/net/ipv4/tcp_syn_linear_timeouts')) {
      const host = JSON.parse((await runCli(['env'])).stdout) as ResultFile['environment'];
      expect(host.conntrackSysctls).toHaveProperty('net.ipv4.tcp_syn_linear_timeouts');
    }
    expect(env.conntrackColumns).toEqual(expect.arrayContaining(['insert_failed', 'drop', 'clashres']));

    expect(result.modes.map((m) => m.mode)).toEqual(['none']);
    for (const m of result.modes) {
      expect(m.attempts).toBe(2000);
      expect(m.succeeded + m.failed).toBe(m.attempts);
      expect(Object.values(m.failures).reduce((s, n) => s + n, 0)).toBe(m.failed);
      expect(Object.keys(m.signatures)).toEqual(['1s', '3s', '7s']);
      expect(Object.values(m.signatures).reduce((s, n) => s + n, 0)).toBeLessThanOrEqual(m.attempts);
      const a = m.attribution;
      // Every confirmed lost SYN was retransmitted (the kernel's TcpExtTCPSynRetrans), but a timed-out connect's last one.
      expect(a.lostSyns).toBeLessThanOrEqual((m.counters.clients['TcpExtTCPSynRetrans'] ?? 0) + (m.failures['ETIMEDOUT'] ?? 0));
      // A race loser's last ACK can trail the RST the client sends at once: the server counts that connect as an
      // embryonic reset, not a passive open.
      expect((m.counters.server['TcpPassiveOpens'] ?? 0) + (m.counters.server['TcpExtEmbryonicRsts'] ?? 0)).toBeGreaterThanOrEqual(m.succeeded);
      expect(m.notes.some((n) => /emulated: .*TCG.*do not transfer to hardware/.test(n))).toBe(true);
    }
    expect(r.stderr).toMatch(/note: emulated: ran in a QEMU guest under TCG/);
    expectHostAsFound(before);
  }, 420_000);

  it('Ctrl-C reaches the guest: its run stops and writes a partial result; the VM is gone', async () => {
    const before = hostSnapshot();
    const out = mkdtempSync(path.join(tmpdir(), 'repro-vm-test-'));
    process.env['REPRO_VM_ACCEL'] = 'tcg';
    try {
      const result = await interruptedRun(['tcp-syn', '--load', 'steady', '--kernel', KERNEL, '--modes', 'none,random-fully', '--connections', '200000'], /\b\d[\d,]* attempts\b/, out);
      expect(result.environment.vm?.accel).toBe('tcg');
      expect(result.environment.kernel).not.toBe(os.release());
      // The run stopped its own load: its server was never taken down under it (SIGINT went to the runner alone).
      for (const m of result.modes) expect(m.failures['ECONNREFUSED'] ?? 0).toBe(0);
    } finally {
      delete process.env['REPRO_VM_ACCEL'];
      rmSync(out, { recursive: true, force: true });
    }
    expectHostAsFound(before);
  }, 420_000);

  it('a runner killed with -9 leaves a VM that `repro cleanup` stops and removes', async () => {
    const before = hostSnapshot();
    process.env['REPRO_VM_ACCEL'] = 'tcg';
    try {
      await killedRun(['tcp-syn', '--load', 'steady', '--kernel', KERNEL, '--modes', 'none', '--connections', '2000'], /vm: stage 1/);
    } finally {
      delete process.env['REPRO_VM_ACCEL'];
    }
    expect(reproQemus()).toHaveLength(1);
    const c = await runCli(['cleanup']);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/\b1 VMs\b/);
    expectHostAsFound(before);
  }, 300_000);
});
