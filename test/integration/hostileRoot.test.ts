import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { libcOf, readResolvers, type ResolverConfig } from '../../src/host/resolvers.js';

/**
 * `repro audit` reads each container's resolv.conf and libc through /proc/<pid>/root. Here the container is a real
 * jail: busybox sleeping under chroot in a test directory, so /proc/<pid>/root is that directory, and whatever the
 * test plants there (as a pod would) is what audit reads. Nothing planted may hang it, exhaust memory, lead it to a
 * host file, or reach the terminal raw.
 */
const gate = capabilityGate();

describe.skipIf(gate.skip)(`audit reading a hostile container root${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  let jail = '';
  let host = '';
  let sleeper: ChildProcess;
  let pid = 0;

  beforeAll(async () => {
    jail = mkdtempSync(path.join(os.tmpdir(), 'repro-jail-'));
    host = mkdtempSync(path.join(os.tmpdir(), 'repro-jail-host-'));
    mkdirSync(path.join(jail, 'bin'));
    copyFileSync('/bin/busybox', path.join(jail, 'bin/busybox'));
    sleeper = spawn('chroot', [jail, '/bin/busybox', 'sleep', '120'], { stdio: 'ignore' });
    pid = sleeper.pid ?? 0;
    // The chroot has happened once the process's root is the jail (chroot(8) execs busybox in place).
    for (let i = 0; i < 100; i++) {
      const root = execFileSync('readlink', [`/proc/${pid}/root`], { encoding: 'utf8' }).trim();
      if (root === jail) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(() => {
    if (sleeper.exitCode === null) sleeper.kill('SIGKILL');
    rmSync(jail, { recursive: true, force: true });
    rmSync(host, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const d of ['etc', 'dev', 'lib', 'real-etc', 'tmp']) rmSync(path.join(jail, d), { recursive: true, force: true });
    mkdirSync(path.join(jail, 'etc'));
  });

  const read = async (): Promise<ResolverConfig> => {
    const [r] = await readResolvers({ kind: 'pid', pid });
    if (!r) throw new Error('no resolver read');
    return r;
  };

  it('reads a plain resolv.conf in the jail (the jail works)', async () => {
    writeFileSync(path.join(jail, 'etc/resolv.conf'), 'nameserver 192.0.2.53\noptions ndots:2\n');
    const r = await read();
    expect(r.error).toBeNull();
    expect(r.text).toBe('nameserver 192.0.2.53\noptions ndots:2\n');
  });

  it('a FIFO as resolv.conf is refused at once, not read (a plain read blocks for good)', { timeout: 5000 }, async () => {
    execFileSync('mkfifo', [path.join(jail, 'etc/resolv.conf')]);
    const r = await read();
    expect(r.text).toBeNull();
    expect(r.error).toMatch(/etc\/resolv\.conf: a FIFO, not read/);
  });

  it('a symlink to /dev/zero resolves inside the jail: no host device read; a device node planted there is refused', { timeout: 5000 }, async () => {
    symlinkSync('/dev/zero', path.join(jail, 'etc/resolv.conf'));
    const missing = await read();
    expect(missing.text).toBeNull();
    expect(missing.error).toMatch(/ENOENT/);
    mkdirSync(path.join(jail, 'dev'));
    execFileSync('mknod', [path.join(jail, 'dev/zero'), 'c', '1', '5']);
    const device = await read();
    expect(device.text).toBeNull();
    expect(device.error).toMatch(/a character device, not read/);
  });

  it('a huge resolv.conf is refused after 64 KiB, not read whole', { timeout: 5000 }, async () => {
    const f = path.join(jail, 'etc/resolv.conf');
    writeFileSync(f, 'nameserver 192.0.2.53\n');
    truncateSync(f, 2 * 1024 ** 3); // sparse: 2 GiB of zeros beyond the first line
    const r = await read();
    expect(r.text).toBeNull();
    expect(r.error).toMatch(/larger than 65536 bytes, not read/);
  });

  it('an absolute symlink to a host file reads the jail\'s file of that name, never the host\'s', async () => {
    const decoy = path.join(host, 'resolv.conf');
    writeFileSync(decoy, 'nameserver 203.0.113.66\noptions host-secret\n');
    symlinkSync(decoy, path.join(jail, 'etc/resolv.conf'));
    const absent = await read();
    expect(absent.text).toBeNull();
    expect(absent.error).toMatch(/ENOENT/);
    // The same path inside the jail is what the jailed resolver reads, and so do we.
    mkdirSync(path.join(jail, path.dirname(decoy)), { recursive: true });
    writeFileSync(path.join(jail, decoy), 'nameserver 192.0.2.7\n');
    expect((await read()).text).toBe('nameserver 192.0.2.7\n');
  });

  it('`..` and a symlinked directory stay inside the jail', async () => {
    const decoy = path.join(host, 'resolv.conf');
    writeFileSync(decoy, 'nameserver 203.0.113.66\n');
    symlinkSync(`${'../'.repeat(20)}${decoy.slice(1)}`, path.join(jail, 'etc/resolv.conf'));
    expect((await read()).error).toMatch(/ENOENT/);
    rmSync(path.join(jail, 'etc'), { recursive: true });
    mkdirSync(path.join(jail, 'real-etc'));
    writeFileSync(path.join(jail, 'real-etc/resolv.conf'), 'nameserver 192.0.2.8\n');
    symlinkSync('/real-etc', path.join(jail, 'etc'));
    expect((await read()).text).toBe('nameserver 192.0.2.8\n');
    // A symlink loop ends with an error, not a hang.
    rmSync(path.join(jail, 'etc'));
    symlinkSync('/etc', path.join(jail, 'etc'));
    expect((await read()).error).toMatch(/ELOOP|symbolic links/);
  });

  it('control characters in resolv.conf reach the output escaped', async () => {
    writeFileSync(path.join(jail, 'etc/resolv.conf'), 'nameserver 192.0.2.53\noptions ndots:1\u001b]0;owned\u0007\u009b2J\n');
    const r = await read();
    expect(r.text).toBe('nameserver 192.0.2.53\noptions ndots:1\\x1b]0;owned\\x07\\x9b2J\n');
  });

  it('the libc probe follows the jail\'s absolute symlinks inside it, not to the host\'s glibc', async () => {
    symlinkSync('/usr/lib', path.join(jail, 'lib')); // on this host, /usr/lib holds glibc's loader
    expect(await libcOf(`/proc/${pid}/root`)).toBe('unknown');
    rmSync(path.join(jail, 'lib'));
    mkdirSync(path.join(jail, 'lib'));
    writeFileSync(path.join(jail, 'lib/ld-musl-x86_64.so.1'), '');
    expect(await libcOf(`/proc/${pid}/root`)).toBe('musl');
  });
});
