import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout went over maxStdoutBytes: `stdout` is its first maxStdoutBytes bytes and the command was killed. */
  truncated?: boolean;
}

export interface ExecOptions {
  input?: string;
  /** Reject when the command exits non-zero (default true). */
  check?: boolean;
  timeoutMs?: number;
  /** Do not collect stdout (a command that lists what it did, one line per item: memory would grow with it). */
  discardStdout?: boolean;
  /** Working directory of the command (default: this process's). */
  cwd?: string;
  /**
   * Keep at most this many bytes of stdout: past it the command is killed and the result says `truncated` (its
   * exit status then does not count). Output whose size others control (rule sets of a large node) sets it.
   */
  maxStdoutBytes?: number;
}

/** stderr serves error messages only: what is beyond this is dropped. */
const MAX_STDERR_BYTES = 64 * 1024;

/** Run a command without a shell; collect its output. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const check = opts.check ?? true;
  return new Promise((resolve, reject) => {
    const child = opts.discardStdout
      ? spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], cwd: opts.cwd })
      : spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    const out: Buffer[] = [];
    let outBytes = 0;
    let truncated = false;
    const max = opts.maxStdoutBytes ?? Infinity;
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.stdout?.on('data', (d: Buffer) => {
      if (truncated) return;
      const room = max - outBytes;
      if (d.length > room) {
        out.push(d.subarray(0, room));
        outBytes = max;
        truncated = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(d);
      outBytes += d.length;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += d.slice(0, MAX_STDERR_BYTES - stderr.length);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (err.code === 'ENOENT') reject(new CommandNotFoundError(cmd));
      else reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const exit = code ?? (signal ? 128 : 1);
      const stdout = Buffer.concat(out).toString('utf8');
      if (truncated) resolve({ code: exit, stdout, stderr, truncated });
      else if (check && exit !== 0) reject(new CommandFailedError(cmd, args, exit, stderr.trim() || stdout.trim()));
      else resolve({ code: exit, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export class CommandNotFoundError extends Error {
  constructor(readonly command: string) {
    super(`${command}: command not found`);
    this.name = 'CommandNotFoundError';
  }
}

export class CommandFailedError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number,
    readonly output: string,
  ) {
    super(`${command} ${args.join(' ')} exited ${exitCode}: ${output.split('\n').slice(0, 3).join(' | ')}`);
    this.name = 'CommandFailedError';
  }
}

/** Run a command inside a named network namespace. */
export function runInNetns(ns: string, cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/**
 * A network namespace to read: the one repro runs in (`host`; the node's own under hostNetwork),
 * a named one under /run/netns, or the one a process lives in.
 */
export type NetnsRef = { kind: 'host' } | { kind: 'netns'; name: string } | { kind: 'pid'; pid: number; label?: string };

export const HOST_NETNS: NetnsRef = { kind: 'host' };

/** How a namespace is named in output and metric labels: host, the netns name, pid:N (or the label given, container:ID). */
export function netnsLabel(ns: NetnsRef): string {
  return ns.kind === 'host' ? 'host' : ns.kind === 'netns' ? ns.name : (ns.label ?? `pid:${ns.pid}`);
}

/** Run a command inside a namespace given by reference (only its network namespace is entered for a pid). */
export function runInNamespace(ns: NetnsRef, cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (ns.kind === 'host') return run(cmd, args, opts);
  if (ns.kind === 'netns') return runInNetns(ns.name, cmd, args, opts);
  return run('nsenter', ['-t', String(ns.pid), '-n', cmd, ...args], opts);
}

/**
 * A file as seen from inside a namespace: /proc/sys and /proc/net answer for the reader's network namespace, so
 * for another namespace the file is read by a `cat` that runs in it.
 */
export async function readFileIn(ns: NetnsRef, path: string): Promise<string> {
  if (ns.kind === 'host') return readFile(path, 'utf8');
  return (await runInNamespace(ns, 'cat', [path], { timeoutMs: 5000 })).stdout;
}
