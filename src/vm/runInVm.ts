/**
 * `--kernel`: the same scenario, run inside a QEMU guest booted on another kernel, with the host's root shared
 * read-only as the guest's and the netns backend inside. The guest writes result.json to a shared directory; its
 * environment is the guest's, plus environment.vm saying how it ran.
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PrerequisiteError, UserError } from '../errors.js';
import { newRunId } from '../host/names.js';
import { iptablesInfo } from '../host/iptables.js';
import { packageInfo } from '../host/environment.js';
import { RunLock } from '../runner/runLock.js';
import { resolveKernel, type ResolvedKernel } from './kernel.js';
import { ensureCacheDir, reproCacheDir } from './cache.js';
import { MAX_GUEST_RESULT_BYTES, checkGuestResult, readGuestFile } from './guestResult.js';
import { BOOT_MODULES, LAB_MODULES, LEGACY_IPTABLES_MODULES, indexModuleTree, resolveModules } from './modules.js';
import { hostBusybox, writeInitramfs } from './initramfs.js';
import { STOP_FILE, stage2Script } from './initScripts.js';
import { ConsoleReader, chooseAccel, qemuArgs, qemuVersion, startQemu } from './guest.js';
import { VmOwner, vmName } from './lifecycle.js';
import type { ScenarioProgress } from '../runner/hooks.js';
import type { ResultFile, ScenarioName, VmInfo } from '../types.js';

export interface VmRunOptions {
  scenario: ScenarioName;
  /** The scenario's own options as CLI words (see guestArgs): --backend, --out, --json and the VM's options removed. */
  args: readonly string[];
  /** A bzImage, a kernel .deb, or "debian". */
  kernel: string;
  /** lib/modules/<release> for a bzImage (a .deb brings its own). */
  modulesDir?: string;
  cpus?: number;
  memoryMb?: number;
  /** The whole run, boot included, at most this long: then the guest's run is stopped, and after a grace period QEMU is killed. */
  watchdogMs?: number;
  /** The host's command line, recorded in the result and the run lock. */
  command?: string;
  /**
   * The scenario's default --duration (seconds), when it has one: under TCG, a run given no --duration gets this
   * times TCG_DURATION_SCALE, since an emulated guest makes its attempts several times slower.
   */
  defaultDurationSec?: number;
  onRunId?: (runId: string) => void;
  onPhase?: (text: string) => void;
  onProgress?: (p: ScenarioProgress) => void;
  /** Every console line (kernel, init, the run's table), for a log. */
  onConsole?: (line: string) => void;
  signal?: AbortSignal;
}

export const VM_DEFAULTS = { cpus: 2, memoryMb: 2048, watchdogMs: 30 * 60_000 } as const;
/** After a Ctrl-C (or the watchdog's), how long the guest gets to stop its load, tear down and write its result. */
const GRACE_MS = 120_000;
/** The guest powers itself off this long after the host's watchdog would have acted (a runner killed with -9). */
const GUEST_DEADLINE_SLACK_MS = GRACE_MS + 60_000;

/** Under TCG node starts several times slower: the guest's runner waits this much longer for its agents. */
const TCG_WAIT_SCALE = 6;
/**
 * Under TCG a default --duration grows by this factor: a burst mode of 10 000 attempts took 30-45 s under TCG on 2
 * vCPUs here (docs/kernels.md), so the host's 30 s bound cut it short.
 */
export const TCG_DURATION_SCALE = 4;

/**
 * Pure: the guest's words with the emulation's --duration added when the user gave none (null: nothing to add).
 * Returns the words and the phase line that says so.
 */
export function withEmulatedDuration(words: readonly string[], accel: 'kvm' | 'tcg', defaultSec: number | undefined): { words: string[]; said: string | null } {
  const given = words.some((w) => w === '--duration' || w.startsWith('--duration='));
  if (accel !== 'tcg' || defaultSec === undefined || given) return { words: [...words], said: null };
  const sec = defaultSec * TCG_DURATION_SCALE;
  return {
    words: [...words, '--duration', String(sec)],
    said: `under TCG the default --duration ${defaultSec} s becomes ${sec} s per mode (emulation is slower); give --duration to choose`,
  };
}

/**
 * Pure: a run's own error message from its console or stderr: the last "repro: ..." line and the lines that continue
 * it (indented: a refused iptables line, the tool's whole stderr), so a failing guest command reaches the user whole.
 */
export function guestErrorMessage(consoleText: string): string | null {
  const lines = consoleText.split('\n');
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^repro: /.test(lines[i] ?? '')) {
      at = i;
      break;
    }
  }
  if (at < 0) return null;
  const out = [(lines[at] ?? '').slice('repro: '.length)];
  for (const l of lines.slice(at + 1)) {
    if (!/^\s+\S/.test(l)) break;
    out.push(l);
  }
  return out.join('\n');
}

/** Options that belong to the host's side of a VM run and never reach the guest's command line. */
const HOST_ONLY_VALUE = ['--kernel', '--kernel-modules', '--vm-cpus', '--vm-memory', '--out', '--backend'];
const HOST_ONLY_FLAG = ['--json', '--no-json'];

/**
 * Pure: the words of a scenario command (after its name) as the guest runs them: the host-only options removed.
 * The backend inside is always netns; asking for docker is an error.
 */
export function guestArgs(words: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? '';
    const [name, inline] = w.startsWith('--') && w.includes('=') ? [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] : [w, undefined];
    if (HOST_ONLY_FLAG.includes(name)) continue;
    if (!HOST_ONLY_VALUE.includes(name)) {
      out.push(w);
      continue;
    }
    const value = inline ?? words[++i];
    if (name === '--backend' && value !== undefined && value !== 'netns' && value !== 'auto') {
      throw new UserError(`--kernel runs the netns backend inside the VM; --backend ${value} is not available there`);
    }
  }
  return out;
}

function intOption(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new UserError(`--${name} must be a whole number from ${lo} to ${hi}, got ${String(v)}`);
  return v;
}

/** Pure: the note each mode of a VM run carries (the renderings show mode notes). */
export function vmNote(vm: VmInfo): string {
  return vm.accel === 'tcg'
    ? `emulated: ran in a QEMU guest under TCG (software CPU emulation, ${vm.cpus} vCPUs, kernel ${vm.kernelSource}); rates and latencies are the emulator's and do not transfer to hardware; counters, the SYN schedule and whether clashes are resolved do`
    : `ran in a QEMU/KVM guest (${vm.cpus} vCPUs, kernel ${vm.kernelSource}): rates are the VM's, not the host's`;
}

/** Pure: the guest's result (already checked: guestResult.ts) as the host reports it: the host's command line, environment.vm, the note on every mode. */
export function withVm(result: ResultFile, vm: VmInfo, command: string | undefined): ResultFile {
  const note = vmNote(vm);
  return {
    ...result,
    command: command ?? result.command,
    environment: { ...result.environment, vm },
    modes: result.modes.map((m) => ({ ...m, notes: [...m.notes, note] })),
  } as ResultFile;
}

/** Directories of the guest's PATH: node's own first, then the host's, then the usual ones. */
function guestPath(): string {
  const dirs = [path.dirname(process.execPath), ...(process.env['PATH'] ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return [...new Set(dirs.filter((d) => d.startsWith('/')))].join(':');
}

/** The host's REPRO_* variables (engine paths, socket paths) go to the guest's run too. */
function guestEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('REPRO_') && /^[A-Z0-9_]+$/.test(e[0]) && e[1] !== undefined));
}

async function modulesFor(k: ResolvedKernel, say: (t: string) => void): Promise<{ name: string; contents: Buffer }[]> {
  if (k.modulesDir === null) {
    say('no kernel modules given: the kernel must have 9p, virtio, overlay, netfilter and the lab\'s links built in');
    return [];
  }
  const legacy = (await iptablesInfo().catch(() => ({ backend: 'nf_tables' }))).backend === 'legacy';
  const tree = await indexModuleTree(k.modulesDir);
  const r = await resolveModules(tree, [...BOOT_MODULES, ...LAB_MODULES, ...(legacy ? LEGACY_IPTABLES_MODULES : [])]);
  const missing = r.plan.missing.length > 0 ? `; not in this kernel: ${r.plan.missing.join(', ')}` : '';
  say(`${r.plan.order.length} kernel modules to load (${r.plan.builtin.length} built in)${missing}`);
  return r.plan.order.map((name) => ({ name, contents: r.contents.get(name) ?? Buffer.alloc(0) }));
}

/**
 * Boot `kernel` under QEMU and run `repro <scenario> <args> --backend netns` inside; return its result with
 * environment.vm. Ctrl-C (`signal`) and the watchdog ask the guest's run to stop (it writes a partial result),
 * then kill QEMU after a grace period. Nothing is left: the work directory in the cache
 * and the record under /run/repro/vm are removed, QEMU is gone.
 */
export async function runScenarioInVm(o: VmRunOptions): Promise<ResultFile> {
  const scenarioArgs = guestArgs(o.args);
  return runInGuest(o, {
    words: (outDir, accel, say) => {
      const timed = withEmulatedDuration(scenarioArgs, accel, o.defaultDurationSec);
      if (timed.said !== null) say(timed.said);
      return [o.scenario, ...timed.words, '--backend', 'netns', '--out', path.join(outDir, 'result')];
    },
    read: async (outDir, runId, startedAt, vm) => {
      const text = await readGuestFile(path.join(outDir, 'result', 'result.json'), MAX_GUEST_RESULT_BYTES);
      const result = text === null ? null : checkGuestResult(text, { scenario: o.scenario, runId, startedAt });
      return result === null ? null : withVm(result, vm, o.command);
    },
  });
}

/**
 * What a guest runs: the repro command line (after the CLI's path) for the guest's shared directory and accelerator,
 * and how its answer is read back from that directory (hostile input: size-capped, checked), null when absent.
 * Only the project's own commands build one (a scenario, `repro trace --self-test`): nothing a scenario file names.
 */
export interface GuestJob<T> {
  words: (outDir: string, accel: 'kvm' | 'tcg', say: (t: string) => void) => string[];
  read: (outDir: string, runId: string, startedAt: string, vm: VmInfo) => Promise<T | null>;
}

export type GuestRunOptions = Omit<VmRunOptions, 'scenario' | 'args' | 'defaultDurationSec'>;

/** Boot the kernel under QEMU, run the job's repro command inside, read its answer (see runScenarioInVm). */
export async function runInGuest<T>(o: GuestRunOptions, job: GuestJob<T>): Promise<T> {
  const say = o.onPhase ?? (() => undefined);
  const cpus = intOption('vm-cpus', o.cpus ?? VM_DEFAULTS.cpus, 1, 64);
  const memoryMb = intOption('vm-memory', o.memoryMb ?? VM_DEFAULTS.memoryMb, 512, 262_144);
  const watchdogMs = o.watchdogMs ?? VM_DEFAULTS.watchdogMs;
  const qemu = await qemuVersion();
  const busybox = await hostBusybox();
  const pkg = await packageInfo();
  const cli = path.join(pkg.root, 'dist', 'cli.js');
  await readFile(cli).catch(() => {
    throw new PrerequisiteError(`${cli} not found: build the project first (npm run build)`);
  });
  await ensureCacheDir();
  const kernel = await resolveKernel(o.kernel, { ...(o.modulesDir !== undefined ? { modulesDir: o.modulesDir } : {}), onPhase: say });
  say(`kernel ${kernel.release ?? '(release unknown)'} from ${kernel.source}`);

  const lock = await RunLock.acquire(o.command ?? `repro --kernel ${o.kernel}`);
  const runId = newRunId();
  const startedAt = new Date().toISOString();
  const workDir = path.join(reproCacheDir(), 'vm', runId);
  let owner: VmOwner | null = null;
  const serial = new ConsoleReader((l) => {
    if (l.kind === 'progress') o.onProgress?.(l.progress);
    else if (l.kind === 'init') say(`vm: ${l.text}`);
    else if (l.kind === 'phase') say(l.text);
    if (l.kind !== 'progress') o.onConsole?.(l.text);
  });
  try {
    o.onRunId?.(runId);
    await mkdir(path.join(workDir, 'out'), { recursive: true, mode: 0o700 });
    owner = await VmOwner.open(runId, workDir);
    const outDir = path.join(workDir, 'out');
    const stage2 = path.join(workDir, 'stage2.sh');
    const initrd = path.join(workDir, 'initramfs.cpio');
    await writeInitramfs(initrd, { busybox: busybox.contents, hostBusybox: busybox.path, stage2, modules: await modulesFor(kernel, say) });

    const name = vmName(runId);
    const { accel, reason } = await chooseAccel({ kernel: kernel.image, initrd, outDir, cacheDir: reproCacheDir(), qemu, name, onPhase: say, onStart: (c) => void owner?.track(c) });
    const vm: VmInfo = { accel, cpus, memoryMb, kernelSource: kernel.source, qemu, ...(kernel.package ? { kernelPackage: kernel.package } : {}) };
    const argv = [process.execPath, cli, ...job.words(outDir, accel, say)];
    const env = { ...(accel === 'tcg' ? { REPRO_WAIT_SCALE: String(TCG_WAIT_SCALE) } : {}), ...guestEnv() };
    await writeFile(
      stage2,
      stage2Script({
        hostBusybox: busybox.path, outDir, cwd: pkg.root, argv, env, path: guestPath(),
        deadlineSec: (watchdogMs + GUEST_DEADLINE_SLACK_MS) / 1000,
      }),
      { mode: 0o755 },
    );
    say(`booting ${kernel.release ?? 'the kernel'} under ${accel === 'tcg' ? 'TCG (emulated CPUs: slow, rates do not transfer)' : 'KVM'} (${reason}), ${cpus} vCPUs, ${memoryMb} MB`);
    const q = startQemu(qemuArgs({ name, accel, cpus, memoryMb, kernel: kernel.image, initrd, outDir }), (d) => serial.push(d));
    await owner.track(q.child);
    const ended = await superviseGuest(q, owner, outDir, watchdogMs, o.signal, say);
    serial.end();
    await writeFile(path.join(reproCacheDir(), 'vm', 'last-console.log'), serial.text() + '\n').catch(() => undefined);

    const statusText = await readGuestFile(path.join(outDir, 'status'), 64);
    const status = statusText !== null && /^\d{1,3}\s*$/.test(statusText) ? Number(statusText.trim()) : null;
    const result = await job.read(outDir, runId, startedAt, vm);
    if (result !== null && (status === 0 || status === 130 || ended.stopped)) return result;
    const tail = serial.tail(25);
    const said = guestErrorMessage(serial.text());
    if (status === 2) throw new UserError(`in the VM: ${said ?? 'the run refused its options'}`);
    if (status === null) {
      throw new Error(`the VM ended before the run finished (${ended.stopped ? 'stopped' : `QEMU exited ${ended.code ?? ended.signal}`}); last console lines:\n${tail}`);
    }
    throw new Error(said !== null ? `in the VM (exit ${status}): ${said}` : `the run in the VM exited ${status} without a result; last console lines:\n${tail}`);
  } finally {
    await owner?.close();
    lock.releaseSync();
  }
}

/**
 * Create the stop file in the directory the guest writes to: created here or not at all (O_EXCL: a file or symlink
 * the guest planted under that name is neither followed nor truncated; it already asks the guest's init to stop).
 */
export async function requestStop(file: string): Promise<void> {
  try {
    const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * Wait for QEMU to end. A Ctrl-C on the host (`signal`) or the watchdog creates the stop file in the shared
 * directory (stage 2 sends its run SIGINT: it stops and writes a partial result); QEMU is killed if the guest has
 * not powered off GRACE_MS later. `stopped` says the run was cut short from here.
 */
async function superviseGuest(
  q: ReturnType<typeof startQemu>,
  owner: VmOwner,
  outDir: string,
  watchdogMs: number,
  signal: AbortSignal | undefined,
  say: (t: string) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stopped: boolean }> {
  let stopped = false;
  let grace: NodeJS.Timeout | undefined;
  const stop = (why: string): void => {
    if (stopped) return;
    stopped = true;
    say(`${why}: stopping the guest's run (QEMU is killed if the guest has not powered off in ${GRACE_MS / 1000} s)`);
    requestStop(path.join(outDir, STOP_FILE)).catch(() => owner.kill());
    grace = setTimeout(() => owner.kill(), GRACE_MS);
  };
  const watchdog = setTimeout(() => stop(`watchdog: the VM run reached ${Math.round(watchdogMs / 1000)} s`), watchdogMs);
  const onAbort = (): void => stop('interrupted');
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await q.exited;
    return { ...r, stopped };
  } finally {
    clearTimeout(watchdog);
    if (grace) clearTimeout(grace);
    signal?.removeEventListener('abort', onAbort);
  }
}

