/**
 * Which kernel a VM run boots: `--kernel FILE` (a bzImage, or a .deb of a kernel image) or `--kernel debian`
 * (the newest linux-image-*-amd64 of the running Debian release, fetched with `apt-get download`). Packages are
 * unpacked once into ~/.cache/repro/kernels/<key>/ and reused from there.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, CommandNotFoundError } from '../host/exec.js';
import { PrerequisiteError, UserError, errorMessage } from '../errors.js';
import { processAlive } from '../runner/runLock.js';

export interface ResolvedKernel {
  /** The bzImage QEMU boots. */
  image: string;
  /** lib/modules/<release> of that kernel, or null (a bzImage without --kernel-modules: everything built in). */
  modulesDir: string | null;
  /** The kernel release (`uname -r` in the guest), or null when it could not be read. */
  release: string | null;
  /** How it was chosen, for environment.vm.kernelSource: `debian:<package>=<version>`, `deb:<file>`, `file:<file>`. */
  source: string;
}

export function reproCacheDir(): string {
  return path.join(process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'repro');
}

export const kernelCacheDir = (): string => path.join(reproCacheDir(), 'kernels');

/** Pure: /etc/os-release as key -> value (quotes removed). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}

/**
 * Pure: the kernel package linux-image-amd64 depends on, from `apt-cache show --no-all-versions linux-image-amd64`
 * (e.g. "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)"); null when there is none.
 */
export function debianKernelPackage(aptShow: string): { name: string; version: string | null } | null {
  const depends = /^Depends:\s*(.+)$/m.exec(aptShow)?.[1];
  if (!depends) return null;
  for (const alternative of depends.split(/[,|]/)) {
    const m = /^\s*(linux-image-[A-Za-z0-9.+-]+)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?/.exec(alternative);
    if (m?.[1]) return { name: m[1], version: m[2] ?? null };
  }
  return null;
}

/**
 * Pure: the version string a bzImage carries (its setup header's kernel_version pointer, Documentation/arch/x86/boot.rst),
 * e.g. "6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP ..."; null when it is not a bzImage.
 */
export function bzImageVersion(head: Buffer): string | null {
  if (head.length < 0x210 || head.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const ptr = head.readUInt16LE(0x20e);
  const at = ptr + 0x200;
  if (ptr === 0 || at >= head.length) return null;
  const end = head.indexOf(0, at);
  return head.toString('latin1', at, end < 0 ? Math.min(head.length, at + 256) : end);
}

/** The release part of a bzImage's version string ("6.1.0-57-amd64 (...) #1 ..." -> "6.1.0-57-amd64"). */
export const releaseOfVersionString = (v: string): string => v.split(' ')[0] ?? v;

export interface ArMember {
  name: string;
  data: Buffer;
}

/** Pure: the members of an ar archive (a .deb is one: debian-binary, control.tar.*, data.tar.*). */
export function readArMembers(buf: Buffer): ArMember[] {
  if (buf.toString('latin1', 0, 8) !== '!<arch>\n') throw new UserError('not an ar archive (a .deb starts with "!<arch>")');
  const out: ArMember[] = [];
  let at = 8;
  while (at + 60 <= buf.length) {
    const name = buf.toString('latin1', at, at + 16).trim().replace(/\/$/, '');
    const size = Number(buf.toString('latin1', at + 48, at + 58).trim());
    if (!Number.isInteger(size) || size < 0 || at + 60 + size > buf.length) throw new UserError(`corrupt ar member header at byte ${at}`);
    out.push({ name, data: buf.subarray(at + 60, at + 60 + size) });
    at += 60 + size + (size % 2);
  }
  return out;
}

export interface KernelTree {
  image: string;
  release: string;
  modulesDir: string | null;
}

/**
 * A kernel package unpacked at `root`: boot/vmlinuz-<release> and its modules under lib/modules/<release> or
 * usr/lib/modules/<release> (Debian since trixie). The highest release wins when there are several.
 */
export async function findKernelInTree(root: string): Promise<KernelTree> {
  const boot = path.join(root, 'boot');
  const images = (await readdir(boot).catch(() => [] as string[])).filter((f) => /^vmlinuz-.+/.test(f)).sort(byRelease);
  const chosen = images.at(-1);
  if (!chosen) throw new UserError(`no boot/vmlinuz-* in the kernel package unpacked at ${root}: is it a linux-image package?`);
  const release = chosen.slice('vmlinuz-'.length);
  const candidates = [path.join(root, 'lib', 'modules', release), path.join(root, 'usr', 'lib', 'modules', release)];
  return { image: path.join(boot, chosen), release, modulesDir: candidates.find((c) => existsSync(c)) ?? null };
}

function byRelease(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * `--kernel-modules DIR`: either lib/modules/<release> itself (it holds kernel/ or modules.order) or a directory
 * holding <release>/ (lib/modules, or an INSTALL_MOD_PATH with lib/modules/<release> below it).
 */
export async function modulesDirFor(dir: string, release: string | null): Promise<string> {
  const isModulesDir = (d: string): boolean => existsSync(path.join(d, 'kernel')) || existsSync(path.join(d, 'modules.order'));
  if (isModulesDir(dir)) return dir;
  for (const base of [dir, path.join(dir, 'lib', 'modules'), path.join(dir, 'usr', 'lib', 'modules')]) {
    const entries = await readdir(base).catch(() => [] as string[]);
    // Modules of another release would not load (vermagic): a known release must match; an unknown one takes a lone entry.
    const pick = release !== null ? (entries.includes(release) ? release : undefined) : entries.length === 1 ? entries[0] : undefined;
    if (pick !== undefined && isModulesDir(path.join(base, pick))) return path.join(base, pick);
  }
  throw new UserError(`--kernel-modules ${dir}: no modules of ${release ?? 'the kernel'} there (expected lib/modules/<release> with kernel/ or modules.order)`);
}

/** Resolve `--kernel` (and `--kernel-modules`) to what QEMU boots and the modules the guest loads. */
export async function resolveKernel(spec: string, opts: { modulesDir?: string; onPhase?: (text: string) => void } = {}): Promise<ResolvedKernel> {
  const say = opts.onPhase ?? (() => undefined);
  let k: ResolvedKernel;
  if (spec === 'debian') {
    k = await debianKernel(say);
  } else {
    const file = path.resolve(spec);
    const head = await readHead(file, 0x4000).catch((err: unknown) => {
      throw new UserError(`--kernel ${spec}: ${errorMessage(err)} (give a bzImage, a kernel .deb, or "debian")`);
    });
    if (head.toString('latin1', 0, 8) === '!<arch>\n') {
      const key = `deb-${await sha256Prefix(file)}`;
      const tree = await unpackedDeb(key, () => readFile(file), say);
      k = { ...tree, source: `deb:${file}` };
    } else {
      const version = bzImageVersion(head);
      if (version === null) throw new UserError(`--kernel ${spec}: not a bzImage (no "HdrS" boot header) nor a .deb`);
      k = { image: file, modulesDir: null, release: releaseOfVersionString(version), source: `file:${file}` };
    }
  }
  if (opts.modulesDir !== undefined) k = { ...k, modulesDir: await modulesDirFor(path.resolve(opts.modulesDir), k.release) };
  return k;
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function sha256Prefix(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex').slice(0, 16);
}

/** Pure: `--kernel debian` needs a Debian host on amd64; else a UserError (exit 2) that says to pass a FILE. */
export function requireDebianHost(osReleaseText: string, arch: string = process.arch): void {
  const osRelease = parseOsRelease(osReleaseText);
  if (osRelease['ID'] !== 'debian') {
    throw new UserError(`--kernel debian needs a Debian host (this is ${osRelease['PRETTY_NAME'] ?? 'not Debian'}): pass --kernel FILE, a bzImage or a kernel .deb`);
  }
  if (arch !== 'x64') throw new UserError(`--kernel debian fetches linux-image-amd64: this host is ${arch}; pass --kernel FILE`);
}

async function debianKernel(say: (text: string) => void): Promise<ResolvedKernel> {
  requireDebianHost(await readFile('/etc/os-release', 'utf8').catch(() => ''));
  const show = await run('apt-cache', ['show', '--no-all-versions', 'linux-image-amd64'], { check: false }).catch((err: unknown) => {
    if (err instanceof CommandNotFoundError) throw new PrerequisiteError('apt-cache not found: --kernel debian needs apt (or pass --kernel FILE)');
    throw err;
  });
  const pkg = show.code === 0 ? debianKernelPackage(show.stdout) : null;
  if (!pkg) throw new PrerequisiteError('apt knows no linux-image-amd64 with a kernel dependency: run apt-get update (or pass --kernel FILE)');
  const key = `debian-${pkg.name}_${pkg.version ?? 'any'}`;
  const tree = await unpackedDeb(key, async () => {
    const dir = path.join(kernelCacheDir(), `${key}.download-${process.pid}`);
    await mkdir(dir, { recursive: true });
    try {
      say(`fetching ${pkg.name}${pkg.version ? ` ${pkg.version}` : ''} with apt-get download`);
      const r = await run('apt-get', ['download', '-q', pkg.version ? `${pkg.name}=${pkg.version}` : pkg.name], { check: false, cwd: dir });
      const deb = (await readdir(dir)).find((f) => f.endsWith('.deb'));
      if (r.code !== 0 || !deb) throw new UserError(`apt-get download ${pkg.name} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
      return await readFile(path.join(dir, deb));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, say);
  return { ...tree, source: `debian:${pkg.name}${pkg.version ? `=${pkg.version}` : ''}` };
}

/**
 * The cache entry `key`: a kernel .deb unpacked (data.tar.* through tar) with kernel.json beside it. A new entry is
 * unpacked under a temporary name and renamed into place, so a killed unpack is never taken for a complete one.
 */
async function unpackedDeb(key: string, fetchDeb: () => Promise<Buffer>, say: (text: string) => void): Promise<KernelTree> {
  const dir = path.join(kernelCacheDir(), key);
  const meta = path.join(dir, 'kernel.json');
  const cached = await readFile(meta, 'utf8').then((t) => JSON.parse(t) as { release: string; image: string; modulesDir: string | null }).catch(() => null);
  if (cached) {
    return { release: cached.release, image: path.join(dir, cached.image), modulesDir: cached.modulesDir === null ? null : path.join(dir, cached.modulesDir) };
  }
  await removeStaleUnpacks();
  const deb = await fetchDeb();
  const data = readArMembers(deb).find((m) => /^data\.tar(\.(xz|gz|zst|bz2))?$/.test(m.name));
  if (!data) throw new UserError('the .deb has no data.tar member: not a Debian binary package');
  const tmp = `${dir}.unpack-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.join(tmp, 'tree'), { recursive: true });
  try {
    say(`unpacking the kernel package into ${dir}`);
    const tarFile = path.join(tmp, data.name);
    await writeFile(tarFile, data.data);
    // GNU tar picks the decompressor from the member's suffix (xz, zstd, gzip).
    const r = await run('tar', ['-xf', tarFile, '-C', path.join(tmp, 'tree')], { check: false });
    if (r.code !== 0) {
      const hint = data.name.endsWith('.zst') ? ' (a .zst package needs zstd installed)' : data.name.endsWith('.xz') ? ' (needs xz-utils)' : '';
      throw new PrerequisiteError(`tar could not unpack ${data.name}${hint}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    }
    await rm(tarFile);
    const tree = await findKernelInTree(path.join(tmp, 'tree'));
    const rel = (p: string): string => path.relative(tmp, p);
    await writeFile(
      path.join(tmp, 'kernel.json'),
      JSON.stringify({ release: tree.release, image: rel(tree.image), modulesDir: tree.modulesDir === null ? null : rel(tree.modulesDir) }, null, 2) + '\n',
    );
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return findKernelInTree(path.join(dir, 'tree'));
}

/** Unpacks and downloads of processes that are gone (killed mid-way) are removed before a new one starts. */
async function removeStaleUnpacks(): Promise<void> {
  const base = kernelCacheDir();
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const pid = Number(/\.(?:unpack|download)-(\d+)$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    await rm(path.join(base, name), { recursive: true, force: true });
  }
}


