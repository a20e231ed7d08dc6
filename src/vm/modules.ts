/**
 * The kernel modules a guest loads before it runs the lab, in dependency order. Packages ship no modules.dep
 * (depmod runs at install), so dependencies are read from each module's own .modinfo section (`depends=`,
 * `softdep=pre:`), as modinfo(8) does. Compressed modules (.ko.xz/.zst/.gz) are decompressed on the host.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PrerequisiteError, errorMessage } from '../errors.js';

const execFileP = promisify(execFile);

/** What the guest needs to reach its root: the virtio PCI transport, 9p over virtio, overlayfs on top of it. */
export const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'] as const;

/**
 * What the lab uses: its links (veth, bridge, vxlan), conntrack and NAT, the nf_tables backend of iptables with
 * the xtables matches and targets its rules name (through nft_compat), and ctnetlink for the conntrack tool.
 */
export const LAB_MODULES = [
  'veth', 'bridge', 'vxlan',
  'nf_conntrack', 'nf_nat', 'nf_conntrack_netlink', 'nfnetlink',
  'nf_tables', 'nft_counter', 'nft_compat', 'nft_chain_nat', 'nft_ct', 'nft_nat', 'nft_masq',
  'x_tables', 'xt_tcpudp', 'xt_MASQUERADE', 'xt_statistic', 'xt_comment', 'xt_mark', 'xt_connmark', 'xt_conntrack',
  'xt_nat', 'xt_CT', 'xt_addrtype', 'xt_multiport',
] as const;

/** With the legacy iptables backend the tables are modules of their own. */
export const LEGACY_IPTABLES_MODULES = ['ip_tables', 'iptable_nat', 'iptable_raw', 'iptable_filter', 'iptable_mangle'] as const;

/** Module names compare with '-' and '_' as one (kmod's rule). */
export const moduleName = (s: string): string => s.replace(/-/g, '_');

/** Pure: the key=value strings of an ELF64 little-endian object's .modinfo section (several values per key kept). */
export function parseModinfo(elf: Buffer): Record<string, string[]> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error('not an ELF64 little-endian object');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    if (at + 64 > elf.length) throw new Error('ELF section header out of range');
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const strtab = section(shstrndx);
  const out: Record<string, string[]> = {};
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameAt = strtab.offset + s.name;
    if (elf.toString('latin1', nameAt, elf.indexOf(0, nameAt)) !== '.modinfo') continue;
    for (const entry of elf.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      (out[entry.slice(0, eq)] ??= []).push(entry.slice(eq + 1));
    }
  }
  return out;
}

export interface ModuleInfo {
  depends: string[];
  /** softdep pre: modules to load first when present (e.g. libcrc32c names crc32c). */
  softPre: string[];
}

/** Pure: dependencies of a module from its modinfo. */
export function moduleInfo(modinfo: Record<string, string[]>): ModuleInfo {
  const depends = (modinfo['depends'] ?? []).flatMap((d) => d.split(',')).map((d) => moduleName(d.trim())).filter((d) => d !== '');
  const softPre: string[] = [];
  for (const s of modinfo['softdep'] ?? []) {
    const m = /pre:\s*([^:]*?)(?:\s+post:.*)?$/.exec(s);
    if (m?.[1]) softPre.push(...m[1].split(/\s+/).filter((x) => x !== '').map(moduleName));
  }
  return { depends, softPre };
}

export interface LoadPlan {
  /** Modules to load, each after its dependencies. */
  order: string[];
  /** Wanted modules neither found nor built in. */
  missing: string[];
  /** Wanted or needed modules the kernel has built in (nothing to load). */
  builtin: string[];
}

/**
 * Pure: the load order of `wanted` and everything they depend on. `info` gives a module's dependencies (null: no
 * such module file); `resolveSoft` maps a softdep name to a module (softdeps that resolve to nothing are skipped).
 */
export function planModuleLoad(
  wanted: readonly string[],
  info: (name: string) => ModuleInfo | null,
  builtin: ReadonlySet<string>,
  resolveSoft: (name: string) => string | null = (n) => (info(n) ? n : null),
): LoadPlan {
  const order: string[] = [];
  const missing: string[] = [];
  const inBuiltin = new Set<string>();
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (raw: string, soft: boolean): void => {
    const name = moduleName(raw);
    if (state.has(name)) return;
    if (builtin.has(name)) {
      inBuiltin.add(name);
      state.set(name, 'done');
      return;
    }
    const mi = info(name);
    if (!mi) {
      if (!soft) missing.push(name);
      state.set(name, 'done');
      return;
    }
    state.set(name, 'visiting');
    for (const s of mi.softPre) {
      const r = resolveSoft(s);
      if (r !== null) visit(r, true);
    }
    for (const d of mi.depends) visit(d, false);
    state.set(name, 'done');
    order.push(name);
  };
  for (const w of wanted) visit(w, false);
  return { order, missing, builtin: [...inBuiltin].sort() };
}

export interface ModuleTree {
  dir: string;
  /** Module name -> file (relative to dir). */
  files: Map<string, string>;
  builtin: Set<string>;
}

const MODULE_FILE = /\.ko(\.(xz|zst|gz))?$/;

/** Every module file under a lib/modules/<release> directory, and the names modules.builtin lists. */
export async function indexModuleTree(dir: string): Promise<ModuleTree> {
  const files = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) await walk(r);
      else if (MODULE_FILE.test(e.name)) files.set(moduleName(e.name.replace(MODULE_FILE, '')), r);
    }
  };
  await walk('');
  const builtinText = await readFile(path.join(dir, 'modules.builtin'), 'utf8').catch(() => '');
  const builtin = new Set(builtinText.split('\n').filter((l) => l.trim() !== '').map((l) => moduleName(path.basename(l.trim()).replace(MODULE_FILE, ''))));
  return { dir, files, builtin };
}

/** A module file's contents, decompressed: the guest's insmod and finit_module need none of the decompressors. */
export async function readModule(file: string): Promise<Buffer> {
  if (file.endsWith('.gz')) return gunzipSync(await readFile(file));
  const tool = file.endsWith('.xz') ? 'xz' : file.endsWith('.zst') ? 'zstd' : null;
  if (tool === null) return readFile(file);
  try {
    const { stdout } = await execFileP(tool, ['-dc', file], { encoding: 'buffer', maxBuffer: 256 << 20 });
    return stdout;
  } catch (err) {
    throw new PrerequisiteError(`${tool} -dc ${file} failed: ${errorMessage(err)} (install ${tool === 'xz' ? 'xz-utils' : 'zstd'})`);
  }
}

export interface ResolvedModules {
  plan: LoadPlan;
  /** name -> decompressed contents, for every module of plan.order. */
  contents: Map<string, Buffer>;
}

/** The modules of `wanted` (and their dependencies) from a module tree, ready to go into the initramfs. */
export async function resolveModules(tree: ModuleTree, wanted: readonly string[]): Promise<ResolvedModules> {
  const contents = new Map<string, Buffer>();
  const infos = new Map<string, ModuleInfo | null>();
  const load = async (name: string): Promise<void> => {
    if (infos.has(name)) return;
    const rel = tree.files.get(name);
    if (rel === undefined) {
      infos.set(name, null);
      return;
    }
    const buf = await readModule(path.join(tree.dir, rel));
    contents.set(name, buf);
    const mi = moduleInfo(parseModinfo(buf));
    infos.set(name, mi);
    for (const d of mi.depends) await load(d);
    for (const s of mi.softPre) {
      const r = softCandidate(tree, s);
      if (r !== null) await load(r);
    }
  };
  for (const w of wanted) await load(moduleName(w));
  const plan = planModuleLoad(wanted, (n) => infos.get(n) ?? null, tree.builtin, (s) => softCandidate(tree, s));
  for (const name of [...contents.keys()]) if (!plan.order.includes(name)) contents.delete(name);
  return { plan, contents };
}

/**
 * A softdep names a module or an alias ("crc32c"): the module of that name, else its generic implementation
 * (crc32c_generic, which needs no CPU feature), else none.
 */
function softCandidate(tree: ModuleTree, name: string): string | null {
  const n = moduleName(name);
  for (const c of [n, `${n}_generic`]) if (tree.files.has(c) || tree.builtin.has(c)) return c;
  return null;
}
