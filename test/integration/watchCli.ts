import { spawn } from 'node:child_process';
import { CLI } from './cli.js';

export interface WatchHandle {
  /** The metrics URL the watch printed once it served. */
  url: string;
  /** Signal it, wait for its exit: the code and what it printed. */
  stop(signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** For a finally: SIGKILL it if it still runs (a failed assertion before stop must not leave it watching). */
  kill(): void;
}

/** `repro watch ARGS --prometheus 127.0.0.1:0` as a child, once it serves its metrics. */
export async function startWatchCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; serveTimeoutMs?: number } = {}): Promise<WatchHandle> {
  const child = spawn(process.execPath, [CLI, 'watch', ...args, '--prometheus', '127.0.0.1:0'], {
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => {
    exited = true;
    resolve(code);
  }));
  const kill = (): void => void (exited || child.kill('SIGKILL'));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watch did not serve: ${stderr}`)), opts.serveTimeoutMs ?? 15_000);
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /metrics on (http:\/\/[\d.:]+\/metrics)/.exec(stderr);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('close', () => reject(new Error(`watch exited: ${stderr}`)));
    });
    return {
      url,
      async stop(signal) {
        child.kill(signal);
        return { code: await closed, stdout, stderr };
      },
      kill,
    };
  } catch (err) {
    kill();
    throw err;
  }
}
