import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { indexModuleTree, moduleInfo, parseModinfo, planModuleLoad, resolveModules, type ModuleInfo } from '../../src/vm/modules.js';

/** A minimal ELF64 LE relocatable with a .modinfo section holding `entries` (as a kernel module has). */
export function elfWithModinfo(entries: readonly string[]): Buffer {
  const modinfo = Buffer.from(entries.map((e) => `${e}\0`).join(''), 'latin1');
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0', 'latin1');
  const dataAt = 64;
  const strAt = dataAt + modinfo.length;
  const shoff = Math.ceil((strAt + shstr.length) / 8) * 8;
  const buf = Buffer.alloc(shoff + 3 * 64);
  buf.writeUInt32BE(0x7f454c46, 0);
  buf[4] = 2; // 64-bit
  buf[5] = 1; // little-endian
  buf[6] = 1;
  buf.writeUInt16LE(1, 0x10); // ET_REL
  buf.writeUInt16LE(62, 0x12); // x86-64
  buf.writeBigUInt64LE(BigInt(shoff), 0x28);
  buf.writeUInt16LE(64, 0x34);
  buf.writeUInt16LE(64, 0x3a);
  buf.writeUInt16LE(3, 0x3c);
  buf.writeUInt16LE(2, 0x3e);
  modinfo.copy(buf, dataAt);
  shstr.copy(buf, strAt);
  const section = (i: number, name: number, type: number, offset: number, size: number): void => {
    const at = shoff + i * 64;
    buf.writeUInt32LE(name, at);
    buf.writeUInt32LE(type, at + 4);
    buf.writeBigUInt64LE(BigInt(offset), at + 0x18);
    buf.writeBigUInt64LE(BigInt(size), at + 0x20);
  };
  section(1, 1, 1, dataAt, modinfo.length); // .modinfo, PROGBITS
  section(2, 10, 3, strAt, shstr.length); // .shstrtab, STRTAB
  return buf;
}

describe('module dependencies from .modinfo', () => {
  it('reads the key=value strings of the .modinfo section, several values per key', () => {
    const mi = parseModinfo(elfWithModinfo(['license=GPL', 'alias=nft-chain-2-nat', 'alias=nft-chain-10-nat', 'depends=nf_tables,nf_nat', 'softdep=pre: crc32c']));
    expect(mi['license']).toEqual(['GPL']);
    expect(mi['alias']).toEqual(['nft-chain-2-nat', 'nft-chain-10-nat']);
    expect(moduleInfo(mi)).toEqual({ depends: ['nf_tables', 'nf_nat'], softPre: ['crc32c'] });
  });

  it('an empty depends= is no dependency; softdep post: is not a pre-dependency; dashes read as underscores', () => {
    expect(moduleInfo(parseModinfo(elfWithModinfo(['depends=', 'softdep=pre: crc32c-generic foo post: bar'])))).toEqual({ depends: [], softPre: ['crc32c_generic', 'foo'] });
    expect(moduleInfo({ softdep: ['post: only'] }).softPre).toEqual([]);
  });

  it('refuses what is not an ELF64 object', () => {
    expect(() => parseModinfo(Buffer.from('not an elf at all, just text long enough to have a header of sixty four bytes.'))).toThrow(/ELF64/);
  });

  it('plans dependencies before dependants, each once, soft pre-dependencies first, builtins and missing ones apart', () => {
    const mods: Record<string, ModuleInfo> = {
      virtio_pci: { depends: ['virtio_ring', 'virtio'], softPre: [] },
      virtio_ring: { depends: [], softPre: [] },
      virtio: { depends: ['virtio_ring'], softPre: [] },
      libcrc32c: { depends: [], softPre: ['crc32c'] },
      crc32c_generic: { depends: [], softPre: [] },
      nf_conntrack: { depends: ['libcrc32c', 'nf_defrag_ipv4'], softPre: [] },
      nf_nat: { depends: ['nf_conntrack', 'libcrc32c'], softPre: [] },
    };
    const plan = planModuleLoad(
      ['virtio_pci', 'nf_nat', 'nf-conntrack', 'veth', 'nope'],
      (n) => mods[n] ?? null,
      new Set(['nf_defrag_ipv4', 'veth']),
      (s) => (mods[`${s}_generic`] ? `${s}_generic` : null),
    );
    expect(plan.order).toEqual(['virtio_ring', 'virtio', 'virtio_pci', 'crc32c_generic', 'libcrc32c', 'nf_conntrack', 'nf_nat']);
    expect(plan.missing).toEqual(['nope']);
    expect(plan.builtin).toEqual(['nf_defrag_ipv4', 'veth']);
  });

  it('a dependency cycle does not loop', () => {
    const plan = planModuleLoad(['a'], (n) => ({ a: { depends: ['b'], softPre: [] }, b: { depends: ['a'], softPre: [] } })[n] ?? null, new Set());
    expect(plan.order.sort()).toEqual(['a', 'b']);
  });

  it('indexes a lib/modules tree (plain and compressed modules, modules.builtin) and resolves the closure with contents', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'repro-mods-'));
    try {
      const put = (rel: string, data: Buffer): void => {
        mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        writeFileSync(path.join(dir, rel), data);
      };
      const natElf = elfWithModinfo(['name=nf_nat', 'depends=nf_conntrack,libcrc32c']);
      put('kernel/net/netfilter/nf_nat.ko', natElf);
      put('kernel/net/netfilter/nf_conntrack.ko.gz', gzipSync(elfWithModinfo(['depends=libcrc32c'])));
      put('kernel/lib/libcrc32c.ko', elfWithModinfo(['depends=', 'softdep=pre: crc32c']));
      put('kernel/crypto/crc32c_generic.ko', elfWithModinfo(['depends=']));
      put('kernel/drivers/net/veth.ko', elfWithModinfo(['depends=']));
      writeFileSync(path.join(dir, 'modules.builtin'), 'kernel/fs/9p/9p.ko\n');
      const tree = await indexModuleTree(dir);
      expect([...tree.files.keys()].sort()).toEqual(['crc32c_generic', 'libcrc32c', 'nf_conntrack', 'nf_nat', 'veth']);
      expect(tree.builtin).toEqual(new Set(['9p']));
      const r = await resolveModules(tree, ['9p', 'nf_nat', 'overlay']);
      expect(r.plan.order).toEqual(['crc32c_generic', 'libcrc32c', 'nf_conntrack', 'nf_nat']);
      expect(r.plan.builtin).toEqual(['9p']);
      expect(r.plan.missing).toEqual(['overlay']);
      expect([...r.contents.keys()].sort()).toEqual(['crc32c_generic', 'libcrc32c', 'nf_conntrack', 'nf_nat']);
      // The gzipped module reaches the initramfs decompressed: the guest's insmod gets a plain ELF.
      expect(r.contents.get('nf_conntrack')?.readUInt32BE(0)).toBe(0x7f454c46);
      expect(r.contents.get('nf_nat')).toEqual(natElf);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
