import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { CapturedSyn } from '../types.js';
import { CommandNotFoundError } from './exec.js';
import { requireCommand } from './preflight.js';

/** Enough of a packet for the cooked header, IP and TCP headers with options. */
const SNAPLEN = 128;
/**
 * The capture ring (KiB; tcpdump's default is 2 MiB). A default run sends ~20 000 SYNs/s, each seen three times
 * (bridge port, bridge, server link): a 2 MiB ring overflowed within seconds when the writer fell behind.
 */
const RING_KIB = 65_536;
/** How long tcpdump may take to open its socket, and to exit once told to. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

export interface SynCaptureRequest {
  /** The run's id: in the capture's directory name, so `repro cleanup` finds a capture a killed run left. */
  runId: string;
  /** The network namespace that holds the NAT; null: the one repro runs in (the host, docker). */
  netns: string | null;
  /** Only SYNs towards the server's address and port are kept (the filter runs in the kernel). */
  server: string;
  port: number;
  /**
   * The longest the capture may run: coreutils' timeout stops tcpdump then (SIGINT, as stop() does), so a runner
   * killed outright (SIGKILL) cannot leave it capturing for ever, holding the namespace.
   */
  maxMs: number;
}

export interface SynCaptureResult {
  syns: CapturedSyn[];
  /** tcpdump's "packets dropped by kernel" (the ring was full): SYNs the capture never saw. */
  kernelDrops: number;
  /** Lines of the capture's text that were not a SYN of the expected shape (never silently ignored by callers). */
  unparsed: number;
}

export interface SynCapture {
  /** Stop tcpdump (SIGINT to its timeout wrapper, by pid), read back what it wrote, and remove the file. */
  stop(): Promise<SynCaptureResult>;
  /** Stop and remove the file without reading it (a mode that failed). Safe to call after stop(). */
  cancel(): Promise<void>;
}

/** Before a run that captures: say what to install, or how to run without it. */
export function requireTcpdump(): Promise<void> {
  return requireCommand('tcpdump', ['--version'], 'install tcpdump (Debian: apt-get install tcpdump), or run with --capture off');
}

/** BPF filter: SYNs without ACK towards the server (both sides of the NAT have that destination). */
/** Capture directories are `<tmp>/repro-capture-<run id>-XXXXXX`. */
export const CAPTURE_DIR_PREFIX = 'repro-capture-';

/** A capture directory's name as mkdtemp makes it: repro-capture-<run id>-XXXXXX. */
const CAPTURE_DIR_SHAPE = new RegExp(`^${CAPTURE_DIR_PREFIX}([0-9a-f]{6})-[A-Za-z0-9]{6}$`);

/**
 * For `repro cleanup`: the captures a killed run left, for the runs `owned` accepts. A directory counts when its
 * name has the shape mkdtemp gave it, it is a real directory (not a symlink), ours and 0700 as mkdtemp made it. A
 * process counts only when its executable is tcpdump and it holds a file open inside such a directory — never by
 * its command line, which any process may set. Those processes are killed and the directories removed (with
 * `dryRun`: only listed). Returns the run ids found.
 */
export async function removeLeftoverCaptures(owned: (runId: string) => boolean, dryRun = false): Promise<string[]> {
  const found = new Set<string>();
  const dirs = new Map<string, string>();
  const uid = process.geteuid?.() ?? 0;
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const id = CAPTURE_DIR_SHAPE.exec(name)?.[1];
    if (id === undefined || !owned(id)) continue;
    const dir = path.join(tmpdir(), name);
    const st = await lstat(dir).catch(() => null);
    if (!st?.isDirectory() || st.uid !== uid || (st.mode & 0o777) !== 0o700) continue;
    dirs.set(dir, id);
  }
  if (dirs.size === 0) return [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
    if (path.basename(exe.replace(/ \(deleted\)$/, '')) !== 'tcpdump') continue;
    const open = await Promise.all((await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])).map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    const into = [...dirs.keys()].find((d) => open.some((f) => f.startsWith(`${d}/`)));
    if (into === undefined) continue;
    found.add(dirs.get(into) ?? '');
    if (dryRun) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  for (const [dir, id] of dirs) {
    found.add(id);
    if (!dryRun) await rm(dir, { recursive: true, force: true });
  }
  return [...found];
}

export function synFilter(server: string, port: number): string {
  return `tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst host ${server} and dst port ${port}`;
}

function inNetns(netns: string | null, args: readonly string[]): [string, string[]] {
  return netns === null ? [args[0] ?? 'tcpdump', args.slice(1)] : ['ip', ['netns', 'exec', netns, ...args]];
}

/**
 * Start a SYN-only capture on every interface of the NAT's namespace, written to a temporary pcap (cheaper
 * during the load than printing text; buffered, flushed when it exits); resolves once tcpdump listens.
 * --immediate-mode hands each packet over at once, so that by the stop (after the settle) none is left in the ring. `ip netns exec` execs tcpdump itself, so
 * the child's pid is tcpdump's.
 */
export async function startSynCapture(req: SynCaptureRequest): Promise<SynCapture> {
  const dir = await mkdtemp(path.join(tmpdir(), `${CAPTURE_DIR_PREFIX}${req.runId}-`));
  const file = path.join(dir, 'syns.pcap');
  const bound = ['timeout', '--signal=INT', `${Math.ceil(req.maxMs / 1000)}s`];
  const [cmd, args] = inNetns(req.netns, [...bound, 'tcpdump', '-i', 'any', '-nn', '-s', String(SNAPLEN), '-B', String(RING_KIB), '--immediate-mode', '-w', file, synFilter(req.server, req.port)]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  try {
    await listening(child, () => stderr, cmd);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped: Promise<number> | null = null;
  const halt = (): Promise<number> => {
    if (!stopped) {
      stopped = (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
    }
    return stopped;
  };
  return {
    async stop() {
      const code = await halt();
      try {
        const stats = parseCaptureStats(stderr);
        if (code !== 0 || stats === null) throw new Error(`tcpdump ended with code ${code} without its packet counts: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
        const read = await readSyns(req.netns, file);
        return { syns: read.syns, unparsed: read.unparsed, kernelDrops: stats.droppedByKernel };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    async cancel() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function listening(child: ChildProcess, stderr: () => string, cmd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start listening within ${START_TIMEOUT_MS / 1000} s: ${stderr().trim()}`)), START_TIMEOUT_MS);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      if (err) reject(err);
      else resolve();
    };
    const onData = (): void => {
      if (/listening on /.test(stderr())) done();
    };
    child.stderr?.on('data', onData);
    child.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ENOENT' ? new CommandNotFoundError(cmd) : err));
    child.once('close', (code) => done(new Error(`tcpdump exited (${code}) before listening: ${stderr().trim()}`)));
  });
}

/** Read the pcap back as text in the same namespace (its interface indexes name that namespace's devices). */
async function readSyns(netns: string | null, file: string): Promise<{ syns: CapturedSyn[]; unparsed: number }> {
  const [cmd, args] = inNetns(netns, ['tcpdump', '-r', file, '-nn', '-tt']);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  const syns: CapturedSyn[] = [];
  let unparsed = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.trim() === '') continue;
    const s = parseSynLine(line);
    if (s) syns.push(s);
    else unparsed++;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`tcpdump -r ${file} exited ${code}: ${stderr.trim()}`);
  return { syns, unparsed };
}

/** tcpdump -tt -nn on a Linux cooked capture: "<s.us> <if> <In|Out|..> IP <a.b.c.d.port> > <e.f.g.h.port>: Flags [S], seq N, ..." */
const SYN_LINE = /^(\d+)\.(\d{6}) (\S+)\s+(In|Out|B|M|P)\s+IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): Flags \[[^\]]*\], seq (\d+),/;

/** Pure: one line of `tcpdump -r -nn -tt` output; null when it is not a SYN line of that shape. */
export function parseSynLine(line: string): CapturedSyn | null {
  const m = SYN_LINE.exec(line);
  if (!m) return null;
  const [, sec, usec, iface, direction, src, sport, dst, dport, seq] = m as unknown as string[];
  return {
    tUs: Number(sec) * 1_000_000 + Number(usec),
    iface: iface ?? '',
    direction: direction ?? '',
    src: src ?? '',
    sport: Number(sport),
    dst: dst ?? '',
    dport: Number(dport),
    seq: Number(seq),
  };
}

export interface CaptureStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
}

/** Pure: the counts tcpdump prints on stderr when it exits; null when they are missing (it did not exit cleanly). */
export function parseCaptureStats(stderr: string): CaptureStats | null {
  const n = (what: RegExp): number | null => {
    const m = what.exec(stderr);
    return m ? Number(m[1]) : null;
  };
  const captured = n(/(\d+) packets? captured/);
  const receivedByFilter = n(/(\d+) packets? received by filter/);
  const droppedByKernel = n(/(\d+) packets? dropped by kernel/);
  if (captured === null || receivedByFilter === null || droppedByKernel === null) return null;
  return { captured, receivedByFilter, droppedByKernel };
}
