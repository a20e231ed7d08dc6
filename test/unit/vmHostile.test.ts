import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { qemuArgs } from '../../src/vm/guest.js';
import { requestStop } from '../../src/vm/runInVm.js';
import { GuestResultError, checkGuestResult, readGuestFile } from '../../src/vm/guestResult.js';
import { DEFAULT_CACHE_DIR, cacheDirProblem, ensureCacheDir, reproCacheDir } from '../../src/vm/cache.js';
import { resolveKernel, unsafeTarEntries, parseControl } from '../../src/vm/kernel.js';
import { PrerequisiteError, UserError } from '../../src/errors.js';
import { arArchive, fakeBzImage } from './fixtures/kernelFiles.js';

/**
 * A --kernel guest is hostile input (#25): what it writes to its share, its result.json, and the packages and
 * paths the host hands QEMU. Each case is crafted input that the code before these checks let through.
 */
const root = process.getuid?.() === 0;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'repro-hostile-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SPEC = { name: 'repro-vm-abc123', accel: 'tcg' as const, cpus: 2, memoryMb: 2048, kernel: '/k/vmlinuz', initrd: '/w/initramfs.cpio', outDir: '/w/out' };

/** QEMU's own rule for an option list: key=value pairs split at single commas, ",," is a literal comma. */
function qemuOptions(list: string): string[] {
  return list.split(/(?<!,),(?!,)/).map((p) => p.replace(/,,/g, ','));
}

describe('the QEMU command line', () => {
  it('a comma in the cache path stays in the path: it cannot add -fsdev options', () => {
    const evil = '/var/cache/x,security_model=passthrough,readonly=off';
    const fsdevs = qemuArgs({ ...SPEC, outDir: evil }).filter((_, i, a) => a[i - 1] === '-fsdev');
    const out = qemuOptions(fsdevs[1] ?? '');
    expect(out).toEqual(['local', 'id=out', `path=${evil}`, 'security_model=mapped-xattr', 'multidevs=remap']);
  });
});

describe('the stop file', () => {
  it('a symlink the guest planted as "stop" is neither followed nor truncated', async () => {
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const stop = path.join(dir, 'stop');
    symlinkSync(victim, stop);
    await requestStop(stop);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(stop).isSymbolicLink()).toBe(true);
  });

  it('is created when absent, as a regular file of the host', async () => {
    const stop = path.join(dir, 'stop');
    await requestStop(stop);
    expect(lstatSync(stop).isFile()).toBe(true);
    await requestStop(stop); // already there: asked once is enough
  });
});

const RESULT = {
  schema: 'repro/result@1', scenario: 'tcp-syn', runId: 'abc123', startedAt: '2026-12-08T01:00:00.000Z', finishedAt: '2026-12-08T01:05:00.000Z',
  environment: { kernel: '5.10.0-46-amd64' },
  modes: [{ mode: 'none', attempts: 10, succeeded: 9, failed: 1, notes: [], histogram: 'HISTFAAAA' }],
};
const HOST = { scenario: 'tcp-syn' as const, runId: 'f00d42', startedAt: '2026-12-08T01:00:01.000Z' };

describe("the guest's result.json", () => {
  it('a runId or startedAt that would build a path outside the results is replaced by the host\'s own', () => {
    const crafted = { ...RESULT, runId: '../../../../../etc/cron.d', startedAt: '../../../tmp/x' };
    const r = checkGuestResult(JSON.stringify(crafted), HOST);
    expect(r.runId).toBe('f00d42');
    expect(r.startedAt).toBe('2026-12-08T01:00:01.000Z');
  });

  it('refuses what is not a result of the scenario run', () => {
    const bad = (x: unknown): (() => unknown) => () => checkGuestResult(JSON.stringify(x), HOST);
    expect(bad({ ...RESULT, schema: 'other' })).toThrow(GuestResultError);
    expect(bad({ ...RESULT, scenario: 'dns' })).toThrow(/scenario "dns" is not the one run/);
    expect(bad({ ...RESULT, modes: {} })).toThrow(/modes is not a list/);
    expect(bad({ ...RESULT, modes: [{ ...RESULT.modes[0], mode: '../x' }] })).toThrow(/not a mode name/);
    expect(bad({ ...RESULT, modes: [{ ...RESULT.modes[0], succeeded: 10 }] })).toThrow(/succeeded \+ failed is not attempts/);
    expect(bad({ ...RESULT, modes: [{ ...RESULT.modes[0], histogram: 'A'.repeat(2 << 20) }] })).toThrow(/histogram/);
    expect(bad({ ...RESULT, finishedAt: 'yesterday' })).toThrow(/finishedAt/);
    expect(() => checkGuestResult('{', HOST)).toThrow(/not JSON/);
  });

  it('is read from a regular file only: a symlink, a FIFO or an oversized file is refused', async () => {
    const link = path.join(dir, 'result.json');
    symlinkSync('/etc/passwd', link);
    await expect(readGuestFile(link, 1 << 20)).rejects.toThrow(/symlink is refused/);
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(readGuestFile(fifo, 1 << 20)).rejects.toThrow(/not a regular file/);
    const big = path.join(dir, 'big');
    writeFileSync(big, Buffer.alloc(4096));
    await expect(readGuestFile(big, 1024)).rejects.toThrow(/4096 bytes, more than the 1024/);
    expect(await readGuestFile(path.join(dir, 'absent'), 10)).toBeNull();
  });
});

describe('the cache', () => {
  it("is root's /var/cache/repro, not the invoking user's $HOME or $XDG_CACHE_HOME", () => {
    const saved = { x: process.env['XDG_CACHE_HOME'], r: process.env['REPRO_CACHE_DIR'] };
    process.env['XDG_CACHE_HOME'] = '/home/mallory/.cache';
    delete process.env['REPRO_CACHE_DIR'];
    try {
      expect(reproCacheDir()).toBe(DEFAULT_CACHE_DIR);
    } finally {
      if (saved.x === undefined) delete process.env['XDG_CACHE_HOME'];
      else process.env['XDG_CACHE_HOME'] = saved.x;
      if (saved.r !== undefined) process.env['REPRO_CACHE_DIR'] = saved.r;
    }
  });

  it('is created 0700; refused when group/world-writable, a symlink, or (as root) owned by another user', async () => {
    const c = path.join(dir, 'cache');
    await ensureCacheDir(c);
    expect(statSync(c).mode & 0o777).toBe(0o700);
    chmodSync(c, 0o777);
    await expect(ensureCacheDir(c)).rejects.toThrow(/writable by its group or by others \(mode 777\)/);
    chmodSync(c, 0o700);
    const link = path.join(dir, 'link');
    symlinkSync(c, link);
    await expect(ensureCacheDir(link)).rejects.toThrow(PrerequisiteError);
    if (root) {
      chownSync(c, 1234, 1234);
      await expect(ensureCacheDir(c)).rejects.toThrow(/owned by uid 1234/);
    }
    expect(cacheDirProblem('/x', { uid: 5, mode: 0o40700, isDirectory: () => true, isSymbolicLink: () => false }, 0)).toMatch(/owned by uid 5/);
  });
});

describe('a kernel .deb unpacked as root', () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env['REPRO_CACHE_DIR'];
    process.env['REPRO_CACHE_DIR'] = path.join(dir, 'cache');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['REPRO_CACHE_DIR'];
    else process.env['REPRO_CACHE_DIR'] = saved;
  });

  function deb(tree: string, control = 'Package: linux-image-6.1.0-57-amd64\nVersion: 6.1.192-3\n'): string {
    const ctl = path.join(dir, 'ctl');
    mkdirSync(ctl, { recursive: true });
    writeFileSync(path.join(ctl, 'control'), control);
    execFileSync('tar', ['-cJf', path.join(dir, 'control.tar.xz'), '-C', ctl, './control']);
    execFileSync('tar', ['-cJf', path.join(dir, 'data.tar.xz'), '--numeric-owner', '-C', tree, '.']);
    const file = path.join(dir, `k-${Math.random().toString(16).slice(2)}.deb`);
    writeFileSync(file, arArchive([
      { name: 'debian-binary', data: Buffer.from('2.0\n') },
      { name: 'control.tar.xz', data: readFileSync(path.join(dir, 'control.tar.xz')) },
      { name: 'data.tar.xz', data: readFileSync(path.join(dir, 'data.tar.xz')) },
    ]));
    return file;
  }

  function kernelTree(): string {
    const t = path.join(dir, `tree-${Math.random().toString(16).slice(2)}`);
    mkdirSync(path.join(t, 'boot'), { recursive: true });
    writeFileSync(path.join(t, 'boot', 'vmlinuz-6.1.0-57-amd64'), fakeBzImage('6.1.0-57-amd64 (debian) #1'));
    return t;
  }

  it.skipIf(!root)('keeps neither owners nor setuid bits: a setuid-root file of the package is a plain file in the cache', async () => {
    const t = kernelTree();
    const suid = path.join(t, 'boot', 'helper');
    writeFileSync(suid, '#!/bin/sh\n');
    chownSync(suid, 1234, 1234);
    chmodSync(suid, 0o6777);
    const k = await resolveKernel(deb(t));
    const unpacked = statSync(path.join(path.dirname(k.image), 'helper'));
    expect(unpacked.mode & 0o7777).toBe(0o755);
    expect(unpacked.uid).toBe(0);
    expect(k.package).toEqual({ name: 'linux-image-6.1.0-57-amd64', version: '6.1.192-3' });
  });

  it.skipIf(!root)('refuses a package holding a device node or a symlink, and unpacks nothing of it', async () => {
    const t = kernelTree();
    execFileSync('mknod', [path.join(t, 'boot', 'mem'), 'c', '1', '1']);
    await expect(resolveKernel(deb(t))).rejects.toThrow(/not regular files or directories \(refused\)/);
    const t2 = kernelTree();
    symlinkSync('/etc/shadow', path.join(t2, 'boot', 'link'));
    await expect(resolveKernel(deb(t2))).rejects.toThrow(UserError);
    expect(existsSync(path.join(dir, 'cache', 'kernels')) ? execFileSync('find', [path.join(dir, 'cache', 'kernels'), '-name', 'mem']).toString() : '').toBe('');
  });

  it('reads tar listings and control files', () => {
    expect(unsafeTarEntries('-rw-r--r-- root/root 5 2024-01-01 00:00 ./boot/x\ndrwxr-xr-x root/root 0 2024-01-01 00:00 ./boot/\ncrw-r--r-- root/root 1,1 2024-01-01 00:00 ./mem\nlrwxrwxrwx root/root 0 2024-01-01 00:00 ./l -> /etc/shadow\n'))
      .toEqual(['crw-r--r-- root/root 1,1 2024-01-01 00:00 ./mem', 'lrwxrwxrwx root/root 0 2024-01-01 00:00 ./l -> /etc/shadow']);
    expect(parseControl('Package: linux-image-5.10.0-46-amd64\nSource: linux-signed-amd64\nVersion: 5.10.262-1\n')).toEqual({ name: 'linux-image-5.10.0-46-amd64', version: '5.10.262-1' });
    expect(parseControl('Package: x\n')).toBeNull();
  });
});
