import { spawn } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
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
}

/** Run a command without a shell; collect its output. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const check = opts.check ?? true;
  return new Promise((resolve, reject) => {
    const child = opts.discardStdout
      ? spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], cwd: opts.cwd })
      : spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (err.code === 'ENOENT') reject(new CommandNotFoundError(cmd));
      else reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const exit = code ?? (signal ? 128 : 1);
      if (check && exit !== 0) {
        reject(new CommandFailedError(cmd, args, exit, stderr.trim() || stdout.trim()));
      } else {
        resolve({ code: exit, stdout, stderr });
      }
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
