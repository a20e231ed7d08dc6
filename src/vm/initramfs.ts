/**
 * The guest's initramfs: a newc cpio archive (the format the kernel unpacks, Documentation/driver-api/early-userspace)
 * holding a static busybox, stage 1 of the init and the modules to load, written by the project itself.
 */
import { readFile, realpath, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { PrerequisiteError } from '../errors.js';
import { stage1Script } from './initScripts.js';

export interface CpioEntry {
  name: string;
  /** Full st_mode: type and permissions (0o100755 a file, 0o040755 a directory, 0o020600 a char device). */
  mode: number;
  data?: Buffer;
  /** Char devices: major and minor number. */
  rdev?: [number, number];
}

export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

/** Pure: entries as a newc archive, with the TRAILER!!! entry the format ends with. Owner root, mtime 0. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`, 'latin1');
    const rdev = 'rdev' in e && e.rdev ? e.rdev : [0, 0];
    const isTrailer = e.name === 'TRAILER!!!';
    const fields = [
      isTrailer ? 0 : ino++, e.mode, 0, 0, (e.mode & 0o170000) === S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rdev[0] ?? 0, rdev[1] ?? 0, name.length, 0,
    ];
    const header = Buffer.from(`070701${fields.map(hex8).join('')}`, 'latin1');
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  }
  return Buffer.concat(parts);
}

/** Pure: does an ELF executable lack a program interpreter (PT_INTERP), i.e. is it statically linked? */
export function isStaticElf(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > elf.length) return false;
    if (elf.readUInt32LE(at) === 3) return false;
  }
  return true;
}

/** The host's busybox, which must be static: stage 1 runs it before any library is reachable. */
export async function hostBusybox(): Promise<{ path: string; contents: Buffer }> {
  const candidates = ['/bin/busybox', '/usr/bin/busybox', '/sbin/busybox', '/usr/sbin/busybox'];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new PrerequisiteError('busybox not found: the VM init needs a static busybox (Debian: apt-get install busybox-static)');
  const real = await realpath(found);
  const contents = await readFile(real);
  if (!isStaticElf(contents)) {
    throw new PrerequisiteError(`${real} is not statically linked: the VM init needs a static busybox (Debian: apt-get install busybox-static)`);
  }
  return { path: real, contents };
}

export interface InitramfsInput {
  busybox: Buffer;
  hostBusybox: string;
  stage2: string;
  /** Modules in load order with their (decompressed) contents. */
  modules: readonly { name: string; contents: Buffer }[];
}

/** Pure: the archive's entries: directories, /dev/console, busybox, /init and the modules. */
export function initramfsEntries(i: InitramfsInput): CpioEntry[] {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'modules', 'host', 'rw', 'newroot'];
  return [
    ...dirs.map((d) => ({ name: d, mode: S_IFDIR | 0o755 })),
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: i.busybox },
    {
      name: 'init',
      mode: S_IFREG | 0o755,
      data: Buffer.from(stage1Script({ modules: i.modules.map((m) => m.name), hostBusybox: i.hostBusybox, stage2: i.stage2 })),
    },
    ...i.modules.map((m) => ({ name: `modules/${m.name}.ko`, mode: S_IFREG | 0o644, data: m.contents })),
  ];
}

export async function writeInitramfs(file: string, input: InitramfsInput): Promise<void> {
  await writeFile(file, writeCpio(initramfsEntries(input)));
}
