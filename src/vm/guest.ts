/**
 * The QEMU side of a VM run: its command line (no network device, no disk: the host's root over virtio-9p,
 * read-only, plus one writable shared directory; the serial console on QEMU's stdio), the accelerator probe, and
 * reading the console as it streams (the init's own lines, the run's phases and progress).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, readFile, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, CommandNotFoundError } from '../host/exec.js';
import { PrerequisiteError } from '../errors.js';
import { MARK, OUT_TAG, PROBE_ARG, ROOT_TAG } from './initScripts.js';
import type { ScenarioProgress } from '../runner/hooks.js';

export type Accel = 'kvm' | 'tcg';

export const QEMU = 'qemu-system-x86_64';

export interface QemuSpec {
  /** The VM's name; QEMU's process title carries it, so `repro cleanup` can tell its own VMs from others. */
  name: string;
  accel: Accel;
  cpus: number;
  memoryMb: number;
  kernel: string;
  initrd: string;
  /** Extra kernel command line words. */
  append?: readonly string[];
  /** The host directory shared writable (results, exit status). */
  outDir: string;
  /** The directory shared read-only as the guest's root (default "/"). */
  rootDir?: string;
}

/** Pure: a value inside a QEMU option list (`key=value,...`): a comma is written twice, so a path cannot add options. */
export const qemuOptValue = (v: string): string => v.replace(/,/g, ',,');

/** Pure: QEMU's arguments for a spec. */
export function qemuArgs(s: QemuSpec): string[] {
  // no_timer_check: on a loaded host a TCG guest's boot-time check of the 8254 timer through the IO-APIC can time out
  // (5.10 then panics: "IO-APIC + timer doesn't work!"); the check says nothing of the lab's netfilter.
  const cmdline = ['console=ttyS0', 'quiet', 'panic=-1', 'oops=panic', 'no_timer_check', ...(s.append ?? [])];
  return [
    '-name', `${s.name},process=${s.name}`,
    // TCG with one host thread per vCPU: the races need two CPUs running at once.
    '-accel', s.accel === 'kvm' ? 'kvm' : 'tcg,thread=multi',
    '-cpu', s.accel === 'kvm' ? 'host' : 'max',
    '-smp', String(s.cpus),
    '-m', String(s.memoryMb),
    '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none',
    // The guest powers off at the end; a reboot (panic=-1) ends QEMU as well.
    '-no-reboot',
    '-nic', 'none',
    // The console on QEMU's stdout; signal=off: no byte on stdin is taken for QEMU's own Ctrl-C.
    '-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console',
    '-kernel', s.kernel,
    '-initrd', s.initrd,
    '-append', cmdline.join(' '),
    // The host's root, read-only: passthrough shows its real owners and modes, and the guest can write nothing there.
    '-fsdev', `local,id=root,path=${qemuOptValue(s.rootDir ?? '/')},security_model=passthrough,readonly=on,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=root,mount_tag=${ROOT_TAG}`,
    // The writable share: mapped-xattr keeps the guest's owners, modes, symlinks and device nodes in xattrs of plain
    // files, so nothing the guest creates there is a real symlink, setuid file or device node on the host.
    '-fsdev', `local,id=out,path=${qemuOptValue(s.outDir)},security_model=mapped-xattr,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=out,mount_tag=${OUT_TAG}`,
  ];
}

export async function qemuVersion(): Promise<string> {
  try {
    const r = await run(QEMU, ['--version'], { timeoutMs: 10_000 });
    return /version\s+(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split('\n')[0] ?? 'unknown';
  } catch (err) {
    if (err instanceof CommandNotFoundError) throw new PrerequisiteError(`${QEMU} not found: install QEMU (Debian: apt-get install qemu-system-x86)`);
    throw err;
  }
}

/** What the console said, line by line: the init's own lines, the run's phase lines, progress, the rest. */
export type ConsoleLine =
  | { kind: 'init'; text: string }
  | { kind: 'phase'; text: string }
  | { kind: 'progress'; progress: ScenarioProgress }
  | { kind: 'other'; text: string };

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Pure: a progress line as src/commands/progress.ts prints it, back into its figures. */
export function parseProgressLine(line: string): ScenarioProgress | null {
  const m = /^\s*\[(\d+)\/(\d+)\]\s+(\S+)\s+(?:\[[^\]]*\]\s+)?\d+%\s+([\d,]+)\/([\d,]+)\s+\S+\s+[\d,]+\/s\s+stalls\s+([\d,]+)\s+failed\s+([\d,]+)\s+(\d+)\s+s\s*$/.exec(line);
  if (!m) return null;
  const n = (s: string | undefined): number => Number((s ?? '0').replace(/,/g, ''));
  return {
    index: n(m[1]) - 1,
    total: n(m[2]),
    mode: m[3] ?? '',
    attempts: n(m[4]),
    target: n(m[5]),
    stalls: n(m[6]),
    failed: n(m[7]),
    elapsedMs: n(m[8]) * 1000,
  };
}

/** Pure: one console line classified (ANSI codes and the tty's carriage returns removed). */
export function classifyConsoleLine(raw: string): ConsoleLine {
  const text = raw.replace(ANSI, '').replace(/\r/g, '').trimEnd();
  if (text.startsWith(`${MARK} `)) return { kind: 'init', text: text.slice(MARK.length + 1) };
  if (text.startsWith('· ')) return { kind: 'phase', text: text.slice(2) };
  const p = parseProgressLine(text);
  if (p) return { kind: 'progress', progress: p };
  return { kind: 'other', text };
}

/**
 * Splits the console's byte stream into lines (a progress bar redrawn with "\r" gives one line per redraw) and
 * keeps the whole text, for the error message of a failed run and the console log.
 */
export class ConsoleReader {
  private partial = '';
  private readonly lines: string[] = [];

  constructor(private readonly onLine: (l: ConsoleLine) => void) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r\n|\n|\r/);
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.emit(p);
  }

  end(): void {
    if (this.partial !== '') this.emit(this.partial);
    this.partial = '';
  }

  private emit(raw: string): void {
    const l = classifyConsoleLine(raw);
    if (l.kind === 'progress' || (l.kind === 'other' && l.text === '')) {
      if (l.kind === 'progress') this.onLine(l);
      return;
    }
    this.lines.push(l.text);
    this.onLine(l);
  }

  /** The console's text without progress redraws. */
  text(): string {
    return this.lines.join('\n');
  }

  /** Its last n lines, for an error message. */
  tail(n: number): string {
    return this.lines.slice(-n).join('\n');
  }
}

export interface StartedQemu {
  child: ChildProcess;
  /** Resolves with QEMU's exit once it has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Start QEMU in a process group of its own (a Ctrl-C on the host's terminal must reach the runner, which decides
 * what the guest gets, not QEMU), console on its stdio.
 */
export function startQemu(args: readonly string[], onConsole: (chunk: string) => void): StartedQemu {
  const child = spawn(QEMU, [...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout?.setEncoding('utf8').on('data', onConsole);
  child.stderr?.setEncoding('utf8').on('data', (d: string) => onConsole(d.replace(/^/gm, 'qemu: ')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new PrerequisiteError(`${QEMU} not found: install QEMU (Debian: apt-get install qemu-system-x86)`) : err),
    );
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited };
}

/** How long a KVM guest gets to print the probe line: a working KVM boots to it in about a second. */
const PROBE_TIMEOUT_MS = 20_000;

interface ProbeCache {
  hostKernel: string;
  qemu: string;
  kvm: boolean;
  at: string;
}

/**
 * KVM when /dev/kvm works, else TCG. "Works" is a short boot under KVM to stage 1's probe line (on some nested
 * machines /dev/kvm opens but a guest hangs after the boot loader). The answer is kept per host kernel and QEMU
 * version in the cache, so only the first run on a machine pays the probe.
 */
export async function chooseAccel(opts: {
  kernel: string;
  initrd: string;
  outDir: string;
  cacheDir: string;
  qemu: string;
  name: string;
  onPhase?: (text: string) => void;
  /** Told the probe's QEMU once started, so its owner can kill it with the runner. */
  onStart?: (child: ChildProcess) => void;
}): Promise<{ accel: Accel; reason: string }> {
  const forced = process.env['REPRO_VM_ACCEL'];
  if (forced === 'kvm' || forced === 'tcg') return { accel: forced, reason: 'REPRO_VM_ACCEL' };
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: '/dev/kvm is not usable' };
  }
  const file = path.join(opts.cacheDir, 'kvm-probe.json');
  const cached = await readFile(file, 'utf8').then((t) => JSON.parse(t) as ProbeCache).catch(() => null);
  if (cached && cached.hostKernel === os.release() && cached.qemu === opts.qemu) {
    return { accel: cached.kvm ? 'kvm' : 'tcg', reason: `KVM probe of ${cached.at}: ${cached.kvm ? 'booted' : 'did not boot'}` };
  }
  opts.onPhase?.('probing KVM with a short boot');
  const args = qemuArgs({
    name: opts.name, accel: 'kvm', cpus: 1, memoryMb: 256, kernel: opts.kernel, initrd: opts.initrd, outDir: opts.outDir, append: [PROBE_ARG],
  });
  let said = '';
  const q = startQemu(args, (d) => (said += d));
  opts.onStart?.(q.child);
  const timer = setTimeout(() => q.child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
  await q.exited.catch(() => null);
  clearTimeout(timer);
  const kvm = said.includes(`${MARK} probe booted`);
  await mkdir(opts.cacheDir, { recursive: true });
  await writeFile(file, JSON.stringify({ hostKernel: os.release(), qemu: opts.qemu, kvm, at: new Date().toISOString() } satisfies ProbeCache) + '\n');
  return { accel: kvm ? 'kvm' : 'tcg', reason: kvm ? 'KVM probe booted' : `KVM probe did not boot within ${PROBE_TIMEOUT_MS / 1000} s` };
}
