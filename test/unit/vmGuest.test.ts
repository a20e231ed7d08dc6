import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConsoleReader, classifyConsoleLine, parseProgressLine, qemuArgs, type ConsoleLine } from '../../src/vm/guest.js';
import { shQuote, stage1Script, stage2Script } from '../../src/vm/initScripts.js';
import { initramfsEntries, isStaticElf, writeCpio, S_IFDIR, S_IFREG } from '../../src/vm/initramfs.js';
import { guestArgs, vmNote, withVm } from '../../src/vm/runInVm.js';
import { isOurQemu, vmName } from '../../src/vm/lifecycle.js';
import { progressText } from '../../src/commands/progress.js';
import { UserError } from '../../src/errors.js';
import type { ResultFile, VmInfo } from '../../src/types.js';
import { fromUname } from './fixtures/distroKernels.js';
import { underCi } from '../ci.js';

const SPEC = { name: 'repro-vm-abc123', accel: 'tcg', cpus: 2, memoryMb: 2048, kernel: '/k/vmlinuz', initrd: '/w/initramfs.cpio', outDir: '/w/out' } as const;

function option(args: readonly string[], name: string): string[] {
  return args.flatMap((a, i) => (a === name ? [args[i + 1] ?? ''] : []));
}

describe('QEMU command line', () => {
  it('TCG with one thread per vCPU, the host root read-only over 9p, one writable share, no network, no disk', () => {
    const a = qemuArgs(SPEC);
    expect(option(a, '-accel')).toEqual(['tcg,thread=multi']);
    expect(option(a, '-smp')).toEqual(['2']);
    expect(option(a, '-m')).toEqual(['2048']);
    expect(option(a, '-nic')).toEqual(['none']);
    expect(a).toContain('-nodefaults');
    expect(a).toContain('-no-reboot');
    expect(a.some((x) => /^-(hd[a-d]|drive|netdev)$/.test(x))).toBe(false);
    const fsdevs = option(a, '-fsdev');
    expect(fsdevs).toEqual([
      'local,id=root,path=/,security_model=passthrough,readonly=on,multidevs=remap',
      // The guest's writable share keeps its owners, modes, symlinks and device nodes in xattrs (#25).
      'local,id=out,path=/w/out,security_model=mapped-xattr,multidevs=remap',
    ]);
    expect(option(a, '-device')).toEqual(['virtio-9p-pci,fsdev=root,mount_tag=reproroot', 'virtio-9p-pci,fsdev=out,mount_tag=reproout']);
    expect(option(a, '-kernel')).toEqual(['/k/vmlinuz']);
    expect(option(a, '-initrd')).toEqual(['/w/initramfs.cpio']);
    expect(option(a, '-append')[0]).toMatch(/^console=ttyS0 .*panic=-1/);
    // A loaded host must not make the guest's boot-time timer check panic it (5.10 did: "IO-APIC + timer doesn't work!").
    expect(option(a, '-append')[0]?.split(' ')).toContain('no_timer_check');
    // The console is QEMU's stdout.
    expect(option(a, '-chardev')).toEqual(['stdio,id=console,signal=off']);
    expect(option(a, '-serial')).toEqual(['chardev:console']);
    expect(option(a, '-name')).toEqual(['repro-vm-abc123,process=repro-vm-abc123']);
  });

  it('KVM uses the host CPU; extra kernel arguments are appended', () => {
    const a = qemuArgs({ ...SPEC, accel: 'kvm', append: ['repro.probe=1'] });
    expect(option(a, '-accel')).toEqual(['kvm']);
    expect(option(a, '-cpu')).toEqual(['host']);
    expect(option(a, '-append')[0]).toMatch(/ repro\.probe=1$/);
  });
});

describe('the guest console', () => {
  it('reads back the progress lines src/commands/progress.ts prints (with and without a bar)', () => {
    const p = { mode: 'random-fully', index: 1, total: 2, attempts: 12_345, target: 20_000, stalls: 3, failed: 1, elapsedMs: 17_000 };
    expect(parseProgressLine(progressText(p, 'attempts', true))).toEqual(p);
    expect(parseProgressLine(progressText(p, 'lookups', false))).toEqual(p);
    expect(parseProgressLine('· topology: 4 clients')).toBeNull();
  });

  it("tells the init's lines, the run's phases and progress from the kernel's", () => {
    expect(classifyConsoleLine('repro-vm: exit 0 at 51.7 s\r')).toEqual({ kind: 'init', text: 'exit 0 at 51.7 s' });
    expect(classifyConsoleLine('· teardown')).toEqual({ kind: 'phase', text: 'teardown' });
    expect(classifyConsoleLine('[   67.49] reboot: Power down')).toEqual({ kind: 'other', text: '[   67.49] reboot: Power down' });
    const bar = `\x1b[2K${progressText({ mode: 'none', index: 0, total: 1, attempts: 5, target: 10, stalls: 0, failed: 0, elapsedMs: 1000 })}`;
    expect(classifyConsoleLine(bar).kind).toBe('progress');
  });

  it('splits a stream on \\n, \\r\\n and the \\r of redrawn bars, across chunk boundaries, keeping text without the redraws', () => {
    const seen: ConsoleLine[] = [];
    const r = new ConsoleReader((l) => seen.push(l));
    const bar = (n: number): string => `\r\x1b[2K${progressText({ mode: 'none', index: 0, total: 1, attempts: n, target: 10, stalls: 0, failed: 0, elapsedMs: 1000 })}`;
    r.push('repro-vm: stage 1 at 2.1 s\r\n· topo');
    r.push(`logy: 4 clients\n${bar(3)}${bar(7)}`);
    r.push('\nrepro-vm: exit 0');
    r.end();
    expect(seen.map((l) => l.kind)).toEqual(['init', 'phase', 'progress', 'progress', 'init']);
    expect(r.text()).toBe('stage 1 at 2.1 s\ntopology: 4 clients\nexit 0');
    expect(r.tail(1)).toBe('exit 0');
  });
});

describe('guest init scripts and initramfs', () => {
  const stage2 = {
    hostBusybox: '/usr/bin/busybox', outDir: '/root/.cache/repro/vm/abc123/out', cwd: '/work/my repro',
    argv: ['/usr/bin/node', '/work/my repro/dist/cli.js', 'tcp-syn', '--modes', 'none', "--note=it's"], env: { REPRO_WAIT_SCALE: '6' },
    path: '/usr/bin:/bin', deadlineSec: 2040,
  };

  it('quotes words for sh', () => {
    expect(shQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shQuote("it's a b")).toBe(`'it'\\''s a b'`);
    expect(shQuote('')).toBe("''");
  });

  it('stage 1 loads the modules in order, mounts the host root read-only under an overlay, switches to stage 2', () => {
    const s = stage1Script({ modules: ['virtio_ring', 'virtio', '9p', 'overlay'], hostBusybox: '/usr/bin/busybox', stage2: '/w/stage 2.sh' });
    expect(s.startsWith('#!/bin/busybox sh\n')).toBe(true);
    expect(s).toContain('for m in virtio_ring virtio 9p overlay; do');
    expect(s).toMatch(/mount -t 9p -o trans=virtio,version=9p2000\.L,ro,[^ ]* reproroot \/host/);
    expect(s).toContain('lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot');
    expect(s).toContain("exec $B switch_root /newroot /usr/bin/busybox sh '/w/stage 2.sh'");
    expect(s).toContain('repro.probe=1');
  });

  it('stage 2 mounts, brings up lo, runs the quoted command in a session on the console, stops it on the stop file, carries the status back, powers off', () => {
    const s = stage2Script(stage2);
    for (const m of ['-t proc proc /proc', '-t sysfs sysfs /sys', '-t devtmpfs devtmpfs /dev', 'tmpfs /run']) expect(s).toContain(m);
    // A fresh /tmp would hide a project that lives under the host's /tmp (a CI clone does): the overlay's /tmp stays.
    expect(s).not.toContain('tmpfs /tmp');
    expect(s).toContain('mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 reproout /root/.cache/repro/vm/abc123/out');
    expect(s).toContain('$B ip link set lo up');
    expect(s).toContain("$B setsid $B cttyhack /usr/bin/node '/work/my repro/dist/cli.js' tcp-syn --modes none '--note=it'\\''s' &");
    // The host's stop file becomes SIGINT for the run alone.
    expect(s).toContain('while [ ! -e /root/.cache/repro/vm/abc123/out/stop ]; do $B sleep 0.5; done;');
    expect(s).toContain('kill -INT $run');
    expect(s).toContain('wait $run');
    expect(s).toContain("cd '/work/my repro'");
    expect(s).toContain('export REPRO_WAIT_SCALE=6');
    expect(s).toContain('$B sleep 2040;');
    expect(s.indexOf('status=$?')).toBe(s.indexOf('wait $run') + 'wait $run\n'.length);
    expect(s).toContain('echo "$status" > /root/.cache/repro/vm/abc123/out/status');
    expect(s.trimEnd().endsWith('$B poweroff -f')).toBe(true);
  });

  it('both stages are valid sh (checked by sh -n)', () => {
    for (const script of [stage1Script({ modules: ['a-b', 'c'], hostBusybox: '/bin/busybox', stage2: '/x' }), stage2Script(stage2)]) {
      const r = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('writes a newc archive the kernel (and cpio) reads: names, modes, contents, 4-byte alignment, trailer', () => {
    const archive = writeCpio([
      { name: 'bin', mode: S_IFDIR | 0o755 },
      { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from('#!/bin/busybox sh\necho hi\n') },
      { name: 'modules/x.ko', mode: S_IFREG | 0o644, data: Buffer.from('abc') },
    ]);
    expect(archive.length % 4).toBe(0);
    expect(archive.toString('latin1', 0, 6)).toBe('070701');
    expect(archive.toString('latin1').includes('TRAILER!!!\0')).toBe(true);
    // Ground truth from outside the code: busybox's cpio unpacks it (installed where the VM runs, and in CI).
    const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((b) => existsSync(b));
    if (!busybox && underCi()) throw new Error('busybox missing under CI (apt-get install busybox-static)');
    if (!busybox) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'repro-cpio-'));
    try {
      writeFileSync(path.join(dir, 'a.cpio'), archive);
      const r = spawnSync(busybox, ['sh', '-c', `mkdir -p ${dir}/x/modules && cd ${dir}/x && ${busybox} cpio -i < ${dir}/a.cpio`], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(readFileSync(path.join(dir, 'x', 'init'), 'utf8')).toBe('#!/bin/busybox sh\necho hi\n');
      expect(statSync(path.join(dir, 'x', 'init')).mode & 0o777).toBe(0o755);
      expect(readFileSync(path.join(dir, 'x', 'modules', 'x.ko'), 'utf8')).toBe('abc');
      expect(statSync(path.join(dir, 'x', 'bin')).isDirectory()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the initramfs holds busybox, /init, /dev/console and the modules in load order', () => {
    const e = initramfsEntries({
      busybox: Buffer.from('BB'), hostBusybox: '/usr/bin/busybox', stage2: '/w/stage2.sh',
      modules: [{ name: 'virtio', contents: Buffer.from('v') }, { name: '9p', contents: Buffer.from('p') }],
    });
    const names = e.map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(['init', 'bin/busybox', 'dev/console', 'modules/virtio.ko', 'modules/9p.ko', 'proc', 'sys', 'dev']));
    expect(e.find((x) => x.name === 'dev/console')?.rdev).toEqual([5, 1]);
    expect(e.find((x) => x.name === 'init')?.data?.toString()).toContain('for m in virtio 9p; do');
  });

  it('tells a static executable from a dynamic one (node is dynamic)', () => {
    expect(isStaticElf(readFileSync(process.execPath))).toBe(false);
    const elf = Buffer.alloc(0x100);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2;
    elf.writeBigUInt64LE(0x40n, 0x20);
    elf.writeUInt16LE(56, 0x36);
    elf.writeUInt16LE(1, 0x38);
    elf.writeUInt32LE(1, 0x40); // PT_LOAD only
    expect(isStaticElf(elf)).toBe(true);
    elf.writeUInt32LE(3, 0x40); // PT_INTERP
    expect(isStaticElf(elf)).toBe(false);
  });
});

describe('the host side of a VM run', () => {
  it("removes the host-only options from the scenario's words; the backend inside is netns", () => {
    expect(guestArgs(['--modes', 'none', '--kernel', 'debian', '--vm-cpus=4', '--json', '--out', '/r', '--backend', 'auto', '--connections', '2000', '--kernel-modules', '/m', '--vm-memory', '1024']))
      .toEqual(['--modes', 'none', '--connections', '2000']);
    expect(guestArgs(['--kernel=/k', '--backend=netns', '-x'])).toEqual(['-x']);
    expect(() => guestArgs(['--backend', 'docker'])).toThrow(UserError);
  });

  it("the result keeps the guest's environment, adds environment.vm and the host's command, and says on every mode that TCG was emulated", () => {
    const vm: VmInfo = { accel: 'tcg', cpus: 2, memoryMb: 2048, kernelSource: 'debian:linux-image-6.1.0-57-amd64=6.1.192-3', qemu: '7.2.22' };
    const guest = {
      command: 'repro tcp-syn --backend netns --out /x', environment: { kernel: '6.1.0-57-amd64', kernelVersion: fromUname('6.1.0') },
      modes: [{ mode: 'none', notes: ['n1'] }, { mode: 'random-fully', notes: [] }],
    } as unknown as ResultFile;
    const r = withVm(guest, vm, 'repro tcp-syn --kernel debian');
    expect(r.command).toBe('repro tcp-syn --kernel debian');
    expect(r.environment.kernel).toBe('6.1.0-57-amd64');
    expect(r.environment.vm).toEqual(vm);
    expect(r.modes.map((m) => m.notes.at(-1))).toEqual([vmNote(vm), vmNote(vm)]);
    expect(r.modes[0]?.notes[0]).toBe('n1');
    expect(vmNote(vm)).toMatch(/emulated.*TCG.*do not transfer to hardware/);
    expect(vmNote({ ...vm, accel: 'kvm' })).not.toMatch(/emulated/);
  });

  it("cleanup kills only this VM's QEMU: a live pid whose command line names it", () => {
    const name = vmName('abc123');
    expect(name).toBe('repro-vm-abc123');
    expect(name.length).toBeLessThanOrEqual(15);
    const qemu = `qemu-system-x86_64\x00-name\x00${name},process=${name}\x00-m\x00512\x00`;
    expect(isOurQemu(process.pid, name, () => qemu)).toBe(true);
    expect(isOurQemu(process.pid, name, () => `qemu-system-x86_64\x00-name\x00repro-vm-ffffff,process=x\x00`)).toBe(false);
    expect(isOurQemu(process.pid, name, () => `vim\x00${name},\x00`)).toBe(false);
    expect(isOurQemu(2 ** 22 + 12345, name, () => qemu)).toBe(false);
  });
});
