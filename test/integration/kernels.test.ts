import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli, runCliEnv } from './cli.js';
import type { ResultFile } from '../../src/types.js';
import type { MatrixResult } from '../../src/matrix/model.js';

/**
 * `repro matrix` over the host's kernel and Debian's 5.10 (bullseye) and 6.12 (trixie), fetched by repro through a
 * private apt sources list (never the machine's own), each booted under TCG with the SYN race inside. The ground
 * truth is each guest's own kernel: its package names its release, its /proc/sys has tcp_syn_linear_timeouts only
 * from 6.5 on (Documentation/networking/ip-sysctl.rst), and the race's lost SYNs are bounded by the guest's
 * conntrack insert_failed counter and matched by its packet capture.
 */
const gate = capabilityGate();
const qemu = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
const debian = /^ID=debian$/m.test(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '');
const missing = qemu.status !== 0 ? 'qemu-system-x86_64 missing' : !debian ? 'not a Debian host (debian:<release> reads its apt mirror)' : null;
if (missing && process.env['CI'] === 'true') throw new Error(`the kernel matrix test needs qemu and a Debian host under CI=true: ${missing}`);
const skip = gate.skip || missing !== null;
const CACHE = process.env['REPRO_CACHE_DIR'] || '/var/cache/repro';

function reproQemus(): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes('qemu-system') && cmd.includes('repro-vm-');
    } catch {
      return false;
    }
  });
}

describe.skipIf(skip)(`repro matrix: host, Debian 5.10 and 6.12 under TCG${skip ? ` — skipped: ${gate.reason || missing}` : ''}`, () => {
  it("runs each kernel's own SYN race, reads each guest's own facts, and writes one result and report", async () => {
    const before = hostSnapshot();
    const out = mkdtempSync(path.join(tmpdir(), 'repro-matrix-test-'));
    try {
      const t0 = Date.now();
      const r = await runCliEnv({ REPRO_VM_ACCEL: 'tcg' }, [
        'matrix', '--kernels', 'host,debian:bullseye,debian:trixie', '--scenario', 'tcp-syn --load burst --modes none --connections 1000', '--out', out,
      ]);
      process.stderr.write(`matrix test: 3 kernels x 1 scenario took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      expect(r.stderr).toMatch(/cell 3\/3 debian-trixie/);
      expect(r.code).toBe(0);
      const m = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as MatrixResult;
      expect(m.schema).toBe('repro/matrix@1');
      expect(m.kernels.map((k) => k.label)).toEqual(['host', 'debian-bullseye', 'debian-trixie']);

      const cell = (label: string): ResultFile => JSON.parse(readFileSync(path.join(out, label, 'tcp-syn_load_burst_modes_none_connections_1000', 'result.json'), 'utf8')) as ResultFile;
      const guests = { 'debian-bullseye': { series: '5.10', linear: false }, 'debian-trixie': { series: '6.12', linear: true } } as const;
      for (const [label, want] of Object.entries(guests)) {
        const res = cell(label);
        const env = res.environment;
        // The guest's uname -r is the release its package is named after, and its package is the release's series.
        expect(env.vm?.kernelPackage?.name).toBe(`linux-image-${env.kernel}`);
        expect(env.vm?.kernelPackage?.version.startsWith(`${want.series}.`)).toBe(true);
        expect(env.kernel).not.toBe(os.release());
        expect(env.vm?.accel).toBe('tcg');
        // Its own SYN schedule: linear timeouts exist from 6.5 on only.
        expect('net.ipv4.tcp_syn_linear_timeouts' in env.conntrackSysctls).toBe(want.linear);
        const none = res.modes[0];
        expect(none?.synSchedule?.linearTimeouts ?? -1).toBe(want.linear ? 4 : 0);
        expect(none?.synSchedule?.completionMs.slice(0, 3)).toEqual(want.linear ? [1000, 2000, 3000] : [1000, 3000, 7000]);
        // The real race inside the guest: lost SYNs it attributes are bounded by its own insert_failed and seen in its capture.
        expect(none?.attribution.conntrackRace).toBeGreaterThan(0);
        expect(none!.attribution.conntrackRace).toBeLessThanOrEqual(none!.counters.conntrack['insert_failed'] ?? 0);
        expect(none?.evidence?.collisions ?? 0).toBeGreaterThan(0);
        const k = m.kernels.find((x) => x.label === label);
        expect(k?.facts.synLinearTimeouts === null).toBe(!want.linear);
        expect(k?.facts.emulated).toBe(true);
        expect(k?.cells[0]?.modes[0]?.race?.count).toBe(none?.attribution.conntrackRace);
      }
      // The host column is the host's own kernel.
      expect(cell('host').environment.kernel).toBe(os.release());
      expect(m.kernels[0]?.facts.synLinearTimeouts === null).toBe(!existsSync('/proc/sys/net/ipv4/tcp_syn_linear_timeouts'));
      expect(m.kernels[1]?.fixes.absent).toContain('syn-linear-timeouts');

      const md = readFileSync(path.join(out, 'report.md'), 'utf8');
      expect(md).toMatch(/\| debian-bullseye \| tcp-syn_load_burst_modes_none_connections_1000 \| none \| [\d,.]+ \[[\d,.]+–[\d,.]+\]/);
      expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('<svg');

      // repro diff of two kernels works on the matrix's parts (which rate is higher is the race's chance: no gate).
      const cellDir = (k: number): string => path.join(out, m.kernels[k]!.label, m.kernels[k]!.cells[0]!.scenarioLabel);
      const d = await runCli(['diff', cellDir(1), cellDir(2), '--fail-on-worse', 'never']);
      expect(d.code).toBe(0);
      expect(d.stdout + d.stderr).toMatch(/syn-linear-timeouts \(tcp-syn\): absent → present/);

      // The cache is root's, 0700, and the fetches did not touch the machine's own apt lists.
      expect(statSync(CACHE).mode & 0o777).toBe(0o700);
      expect(statSync(CACHE).uid).toBe(0);
      expect(readdirSync('/var/lib/apt/lists').some((f) => /bullseye|trixie/.test(f))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(hostSnapshot()).toEqual(before);
    expect(reproQemus()).toEqual([]);
    expect(existsSync('/run/repro/vm')).toBe(false);
  }, 900_000);
});
