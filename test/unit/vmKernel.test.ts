import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  bzImageVersion, debianKernelPackage, findKernelInTree, modulesDirFor, parseOsRelease, readArMembers, requireDebianHost, resolveKernel,
} from '../../src/vm/kernel.js';
import { UserError } from '../../src/errors.js';
import { arArchive, fakeBzImage } from './fixtures/kernelFiles.js';

const APT_SHOW = `Package: linux-image-amd64
Source: linux-signed-amd64 (6.1.192+3)
Version: 6.1.192-3
Installed-Size: 14
Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)
Description-en: Linux for 64-bit PCs (meta-package)
`;

describe('kernel resolution (--kernel FILE|debian)', () => {
  let dir: string;
  let savedCache: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'repro-kernel-'));
    savedCache = process.env['REPRO_CACHE_DIR'];
    process.env['REPRO_CACHE_DIR'] = path.join(dir, 'cache', 'repro');
  });
  afterEach(() => {
    if (savedCache === undefined) delete process.env['REPRO_CACHE_DIR'];
    else process.env['REPRO_CACHE_DIR'] = savedCache;
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the package linux-image-amd64 depends on', () => {
    expect(debianKernelPackage(APT_SHOW)).toEqual({ name: 'linux-image-6.1.0-57-amd64', version: '6.1.192-3' });
    expect(debianKernelPackage('Depends: linux-image-6.12.9-amd64-unsigned | linux-image-6.12.9-amd64\n')?.name).toBe('linux-image-6.12.9-amd64-unsigned');
    expect(debianKernelPackage('Package: linux-image-amd64\n')).toBeNull();
  });

  it('--kernel debian on a host that is not Debian is a user error (exit 2) that says to pass a FILE', () => {
    const ubuntu = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n';
    expect(parseOsRelease(ubuntu)['PRETTY_NAME']).toBe('Ubuntu 24.04.1 LTS');
    let err: unknown;
    try {
      requireDebianHost(ubuntu, 'x64');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as UserError).message).toMatch(/needs a Debian host \(this is Ubuntu 24\.04\.1 LTS\): pass --kernel FILE/);
    expect(() => requireDebianHost('ID=debian\nVERSION_CODENAME=bookworm\n', 'arm64')).toThrow(/arm64/);
    expect(() => requireDebianHost('ID=debian\n', 'x64')).not.toThrow();
  });

  it("reads a bzImage's version string from its setup header, and refuses other files", () => {
    expect(bzImageVersion(fakeBzImage('6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP'))).toBe('6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP');
    expect(bzImageVersion(Buffer.alloc(0x1000))).toBeNull();
  });

  it('reads the members of an ar archive and refuses what is not one', () => {
    const ar = arArchive([{ name: 'debian-binary', data: Buffer.from('2.0\n') }, { name: 'odd', data: Buffer.from('x') }, { name: 'data.tar.xz', data: Buffer.from('abc') }]);
    expect(readArMembers(ar).map((m) => [m.name, m.data.toString()])).toEqual([['debian-binary', '2.0\n'], ['odd', 'x'], ['data.tar.xz', 'abc']]);
    expect(() => readArMembers(Buffer.from('PK\x03\x04 a zip'))).toThrow(UserError);
  });

  it('finds the newest vmlinuz and its modules in an unpacked package (lib/modules or usr/lib/modules)', async () => {
    const root = path.join(dir, 'tree');
    mkdirSync(path.join(root, 'boot'), { recursive: true });
    for (const r of ['6.1.0-9-amd64', '6.1.0-10-amd64']) writeFileSync(path.join(root, 'boot', `vmlinuz-${r}`), fakeBzImage(r));
    mkdirSync(path.join(root, 'usr', 'lib', 'modules', '6.1.0-10-amd64', 'kernel'), { recursive: true });
    const t = await findKernelInTree(root);
    expect(t).toEqual({ image: path.join(root, 'boot', 'vmlinuz-6.1.0-10-amd64'), release: '6.1.0-10-amd64', modulesDir: path.join(root, 'usr', 'lib', 'modules', '6.1.0-10-amd64') });
    await expect(findKernelInTree(path.join(dir, 'nothing'))).rejects.toThrow(/no boot\/vmlinuz/);
  });

  it('--kernel-modules takes lib/modules/<release> itself or a directory above it', async () => {
    const mods = path.join(dir, 'inst', 'lib', 'modules', '6.13.0-rc1');
    mkdirSync(path.join(mods, 'kernel'), { recursive: true });
    expect(await modulesDirFor(mods, '6.13.0-rc1')).toBe(mods);
    expect(await modulesDirFor(path.join(dir, 'inst'), '6.13.0-rc1')).toBe(mods);
    expect(await modulesDirFor(path.join(dir, 'inst', 'lib', 'modules'), null)).toBe(mods);
    await expect(modulesDirFor(path.join(dir, 'inst'), '6.14.0')).rejects.toThrow(/no modules of 6\.14\.0/);
  });

  it('--kernel BZIMAGE: the release from its header, modules only when given', async () => {
    const image = path.join(dir, 'bzImage');
    writeFileSync(image, fakeBzImage('6.13.0-rc1 (me@build) #3 SMP PREEMPT_DYNAMIC'));
    expect(await resolveKernel(image)).toEqual({ image, modulesDir: null, release: '6.13.0-rc1', source: `file:${image}` });
    const mods = path.join(dir, 'lib', 'modules', '6.13.0-rc1');
    mkdirSync(path.join(mods, 'kernel'), { recursive: true });
    expect((await resolveKernel(image, { modulesDir: path.join(dir, 'lib', 'modules') })).modulesDir).toBe(mods);
    writeFileSync(path.join(dir, 'notakernel'), 'hello');
    await expect(resolveKernel(path.join(dir, 'notakernel'))).rejects.toThrow(/not a bzImage/);
    await expect(resolveKernel(path.join(dir, 'missing'))).rejects.toThrow(UserError);
  });

  it('--kernel PACKAGE.deb: unpacked into the cache once (data.tar.xz through tar), kernel and modules found there', async () => {
    const pkgTree = path.join(dir, 'pkg');
    mkdirSync(path.join(pkgTree, 'boot'), { recursive: true });
    mkdirSync(path.join(pkgTree, 'lib', 'modules', '6.1.0-57-amd64', 'kernel', 'drivers', 'net'), { recursive: true });
    writeFileSync(path.join(pkgTree, 'boot', 'vmlinuz-6.1.0-57-amd64'), fakeBzImage('6.1.0-57-amd64 (debian) #1'));
    writeFileSync(path.join(pkgTree, 'lib', 'modules', '6.1.0-57-amd64', 'kernel', 'drivers', 'net', 'veth.ko'), 'ELF');
    execFileSync('tar', ['-cJf', path.join(dir, 'data.tar.xz'), '-C', pkgTree, '.']);
    execFileSync('tar', ['-cJf', path.join(dir, 'control.tar.xz'), '-C', pkgTree, 'boot']);
    const deb = path.join(dir, 'linux-image-test.deb');
    writeFileSync(deb, arArchive([
      { name: 'debian-binary', data: Buffer.from('2.0\n') },
      { name: 'control.tar.xz', data: readFileSync(path.join(dir, 'control.tar.xz')) },
      { name: 'data.tar.xz', data: readFileSync(path.join(dir, 'data.tar.xz')) },
    ]));
    // Ground truth from outside the code: dpkg-deb reads the archive we wrote, where it is installed.
    if (existsSync('/usr/bin/dpkg-deb')) expect(execFileSync('dpkg-deb', ['--fsys-tarfile', deb]).length).toBeGreaterThan(0);

    const k = await resolveKernel(deb);
    const cache = path.join(dir, 'cache', 'repro', 'kernels');
    expect(k.release).toBe('6.1.0-57-amd64');
    expect(k.source).toBe(`deb:${deb}`);
    expect(k.image.startsWith(cache)).toBe(true);
    expect(bzImageVersion(readFileSync(k.image))).toBe('6.1.0-57-amd64 (debian) #1');
    expect(k.modulesDir).toBe(path.join(path.dirname(path.dirname(k.image)), 'lib', 'modules', '6.1.0-57-amd64'));
    const meta = path.join(path.dirname(path.dirname(path.dirname(k.image))), 'kernel.json');
    const unpackedAt = statSync(meta).mtimeMs;
    // The second time it comes from the cache: same answer, nothing unpacked again, no temporary left.
    expect(await resolveKernel(deb)).toEqual(k);
    expect(statSync(meta).mtimeMs).toBe(unpackedAt);
    expect(readdirSync(cache).filter((n) => /unpack|download/.test(n))).toEqual([]);
  });
});
