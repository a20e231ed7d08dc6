/**
 * Which kernel a VM run boots: `--kernel FILE` (a bzImage, or a .deb of a kernel image), `--kernel debian` (the
 * newest linux-image-*-amd64 of the running Debian release, fetched with `apt-get download`) or
 * `--kernel debian:<release>` (another release's, through a private sources list: src/vm/debian.ts). Packages are
 * unpacked once into <cache>/kernels/<key>/ (root's cache: src/vm/cache.ts) and reused from there.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, CommandNotFoundError } from '../host/exec.js';
import { PrerequisiteError, UserError, errorMessage } from '../errors.js';
import { processAlive } from '../runner/runLock.js';
import { ensureCacheDir, reproCacheDir } from './cache.js';
import {
  DEBIAN_KEYRING, debianMirrors, hostAptSources, parseDebianSpec, privateAptOptions, privateSourcesList, type DebianRelease,
} from './debian.js';

export interface ResolvedKernel {
  /** The bzImage QEMU boots. */
  image: string;
  /** lib/modules/<release> of that kernel, or null (a bzImage without --kernel-modules: everything built in). */
  modulesDir: string | null;
  /** The kernel release (`uname -r` in the guest), or null when it could not be read. */
  release: string | null;
  /** How it was chosen, for environment.vm.kernelSource: `debian:<package>=<version>`, `deb:<file>`, `file:<file>`. */
  source: string;
  /** A packaged kernel's Package and Version (its control file), e.g. linux-image-5.10.0-46-amd64 5.10.262-1. */
  package?: { name: string; version: string };
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
  package?: { name: string; version: string };
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
  const release = parseDebianSpec(spec);
  if (release !== undefined) {
    await ensureCacheDir();
    k = await debianKernel(say, release);
  } else {
    await ensureCacheDir();
    const file = path.resolve(spec);
    const head = await readHead(file, 0x4000).catch((err: unknown) => {
      throw new UserError(`--kernel ${spec}: ${errorMessage(err)} (give a bzImage, a kernel .deb, "debian" or "debian:<release>")`);
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

async function debianKernel(say: (text: string) => void, release: DebianRelease | null): Promise<ResolvedKernel> {
  if (release === null) requireDebianHost(await readFile('/etc/os-release', 'utf8').catch(() => ''));
  else if (process.arch !== 'x64') throw new UserError(`--kernel debian:${release.suite} fetches linux-image-amd64: this host is ${process.arch}; pass --kernel FILE`);
  const apt = release === null ? { dir: null, options: [] as string[] } : await privateApt(release, say);
  const show = await run('apt-cache', [...apt.options, 'show', '--no-all-versions', 'linux-image-amd64'], { check: false }).catch((err: unknown) => {
    if (err instanceof CommandNotFoundError) throw new PrerequisiteError('apt-cache not found: --kernel debian needs apt (or pass --kernel FILE)');
    throw err;
  });
  const pkg = show.code === 0 ? debianKernelPackage(show.stdout) : null;
  const where = release === null ? 'apt' : `Debian ${release.suite}`;
  if (!pkg) throw new PrerequisiteError(`${where} knows no linux-image-amd64 with a kernel dependency: ${release === null ? 'run apt-get update' : 'is the mirror reachable?'} (or pass --kernel FILE)`);
  const key = `debian-${pkg.name}_${pkg.version ?? 'any'}`;
  const tree = await unpackedDeb(key, async () => {
    const dir = path.join(kernelCacheDir(), `${key}.download-${process.pid}`);
    await mkdir(dir, { recursive: true });
    try {
      say(`fetching ${pkg.name}${pkg.version ? ` ${pkg.version}` : ''} with apt-get download${release === null ? '' : ` (Debian ${release.suite})`}`);
      const r = await run('apt-get', [...apt.options, 'download', '-q', pkg.version ? `${pkg.name}=${pkg.version}` : pkg.name], { check: false, cwd: dir });
      const deb = (await readdir(dir)).find((f) => f.endsWith('.deb'));
      if (r.code !== 0 || !deb) throw new UserError(`apt-get download ${pkg.name} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
      return await readFile(path.join(dir, deb));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, say);
  return { ...tree, source: `debian:${pkg.name}${pkg.version ? `=${pkg.version}` : ''}` };
}

/** Lists older than this are fetched again (a release's kernel moves with its point and security updates). */
const APT_LISTS_MAX_AGE_MS = 12 * 3600_000;

/**
 * A release's private apt state under <cache>/apt/<suite>: its sources list (the host's Debian mirror, this
 * release's suites), lists and package cache; `apt-get update` on it when its lists are missing or old.
 */
async function privateApt(release: DebianRelease, say: (text: string) => void): Promise<{ dir: string; options: string[] }> {
  const mirrors = debianMirrors(await hostAptSources());
  if (!mirrors) throw new PrerequisiteError(`--kernel debian:${release.suite}: the host's apt sources name no Debian archive (…/debian) to fetch from; pass --kernel FILE`);
  await stat(DEBIAN_KEYRING).catch(() => {
    throw new PrerequisiteError(`--kernel debian:${release.suite} verifies the archive with ${DEBIAN_KEYRING}: install debian-archive-keyring`);
  });
  const dir = path.join(reproCacheDir(), 'apt', release.suite);
  for (const d of ['sources.list.d', 'lists/partial', 'cache/archives/partial']) await mkdir(path.join(dir, d), { recursive: true, mode: 0o700 });
  const list = privateSourcesList(mirrors, release.suite);
  const listFile = path.join(dir, 'sources.list');
  const same = (await readFile(listFile, 'utf8').catch(() => '')) === list;
  await writeFile(listFile, list);
  const options = privateAptOptions(dir);
  const fresh = await stat(path.join(dir, 'lists', 'updated')).then((s) => Date.now() - s.mtimeMs < APT_LISTS_MAX_AGE_MS).catch(() => false);
  if (!same || !fresh) {
    say(`apt-get update of Debian ${release.suite} (a private sources list in ${dir}; the host's apt is left as it is)`);
    const r = await run('apt-get', [...options, 'update', '-q'], { check: false });
    if (r.code !== 0) throw new PrerequisiteError(`apt-get update of Debian ${release.suite} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    await writeFile(path.join(dir, 'lists', 'updated'), new Date().toISOString() + '\n');
  }
  return { dir, options };
}

/**
 * The cache entry `key`: a kernel .deb unpacked (data.tar.* through tar) with kernel.json beside it. A new entry is
 * unpacked under a temporary name and renamed into place, so a killed unpack is never taken for a complete one.
 */
async function unpackedDeb(key: string, fetchDeb: () => Promise<Buffer>, say: (text: string) => void): Promise<KernelTree> {
  const dir = path.join(kernelCacheDir(), key);
  const meta = path.join(dir, 'kernel.json');
  const cached = await readFile(meta, 'utf8')
    .then((t) => JSON.parse(t) as { release: string; image: string; modulesDir: string | null; package?: { name: string; version: string } | null })
    .catch(() => null);
  if (cached) {
    return {
      release: cached.release, image: path.join(dir, cached.image), modulesDir: cached.modulesDir === null ? null : path.join(dir, cached.modulesDir),
      ...(cached.package ? { package: cached.package } : {}),
    };
  }
  await removeStaleUnpacks();
  const deb = await fetchDeb();
  const members = readArMembers(deb);
  const data = members.find((m) => /^data\.tar(\.(xz|gz|zst|bz2))?$/.test(m.name));
  if (!data) throw new UserError('the .deb has no data.tar member: not a Debian binary package');
  const control = members.find((m) => /^control\.tar(\.(xz|gz|zst|bz2))?$/.test(m.name));
  const tmp = `${dir}.unpack-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.join(tmp, 'tree'), { recursive: true, mode: 0o700 });
  try {
    say(`unpacking the kernel package into ${dir}`);
    await extractTar(tmp, data, path.join(tmp, 'tree'));
    const pkg = control ? await controlFields(tmp, control) : null;
    const tree = await findKernelInTree(path.join(tmp, 'tree'));
    const rel = (p: string): string => path.relative(tmp, p);
    await writeFile(
      path.join(tmp, 'kernel.json'),
      JSON.stringify({ release: tree.release, image: rel(tree.image), modulesDir: tree.modulesDir === null ? null : rel(tree.modulesDir), package: pkg }, null, 2) + '\n',
    );
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const tree = await findKernelInTree(path.join(dir, 'tree'));
  const cachedPkg = (JSON.parse(await readFile(meta, 'utf8')) as { package?: { name: string; version: string } | null }).package;
  return cachedPkg ? { ...tree, package: cachedPkg } : tree;
}

/**
 * Pure: the entries of `tar -tv` output that are not a regular file or a directory (a package's symlinks, device
 * nodes, FIFOs, hard links: none belongs in a kernel package, and each could reach outside the cache or the host's
 * devices once unpacked as root).
 */
export function unsafeTarEntries(listing: string): string[] {
  return listing.split('\n').filter((l) => l.trim() !== '' && l[0] !== '-' && l[0] !== 'd');
}

/**
 * Unpack an ar member holding a tar (GNU tar picks the decompressor from its suffix) into `into`: listed first and
 * refused whole when it holds anything but regular files and directories; unpacked without the archive's owners
 * and permissions (as root, tar would keep both: a package's setuid-root file would stay one); then every file's
 * mode is cut to rwx for its owner and rx for others, and each entry checked again.
 */
async function extractTar(tmp: string, member: ArMember, into: string): Promise<void> {
  const tarFile = path.join(tmp, member.name);
  await writeFile(tarFile, member.data, { mode: 0o600 });
  const fail = (r: { stderr: string }, what: string): never => {
    const hint = member.name.endsWith('.zst') ? ' (a .zst package needs zstd installed)' : member.name.endsWith('.xz') ? ' (needs xz-utils)' : '';
    throw new PrerequisiteError(`tar could not ${what} ${member.name}${hint}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  };
  try {
    const list = await run('tar', ['-tvf', tarFile], { check: false });
    if (list.code !== 0) fail(list, 'list');
    const unsafe = unsafeTarEntries(list.stdout);
    if (unsafe.length > 0) {
      throw new UserError(`${member.name} holds ${unsafe.length} entries that are not regular files or directories (refused): ${unsafe.slice(0, 3).join(' | ')}`);
    }
    const r = await run('tar', ['-xf', tarFile, '-C', into, '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir'], { check: false });
    if (r.code !== 0) fail(r, 'unpack');
  } finally {
    await rm(tarFile, { force: true });
  }
  await sanitizeTree(into);
}

/** Every entry under `dir` a plain file or directory, no set-id or sticky bit, not writable by group or others. */
async function sanitizeTree(dir: string): Promise<void> {
  for (const e of await readdir(dir)) {
    const p = path.join(dir, e);
    const st = await lstat(p);
    if (st.isDirectory()) {
      await chmod(p, 0o755);
      await sanitizeTree(p);
    } else if (st.isFile()) {
      await chmod(p, st.mode & 0o755);
    } else {
      throw new UserError(`the kernel package unpacked an entry that is not a regular file or directory: ${p}`);
    }
  }
}

/** Package and Version from a control.tar member's ./control. */
async function controlFields(tmp: string, member: ArMember): Promise<{ name: string; version: string } | null> {
  const dir = path.join(tmp, 'control');
  await mkdir(dir, { mode: 0o700 });
  try {
    await extractTar(tmp, member, dir);
    return parseControl(await readFile(path.join(dir, 'control'), 'utf8').catch(() => ''));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pure: Package and Version of a Debian control file; null when either is missing. */
export function parseControl(text: string): { name: string; version: string } | null {
  const name = /^Package:\s*(\S+)\s*$/m.exec(text)?.[1];
  const version = /^Version:\s*(\S+)\s*$/m.exec(text)?.[1];
  return name && version ? { name, version } : null;
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


