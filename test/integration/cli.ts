import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** CLI processes still running: a test that timed out must not leave its run behind (holding the host's lock). */
const live = new Set<ChildProcess>();

afterEach(async () => {
  const strays = [...live];
  live.clear();
  await Promise.all(
    strays.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGINT'); // the run tears itself down
          setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
        }),
    ),
  );
});

function spawnCli(command: string, args: string[], env: NodeJS.ProcessEnv, onStderr?: (text: string, child: ChildProcess) => void): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr, child);
    });
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Run the built CLI; `onStderr` sees stderr as it arrives (to time a signal). */
export function runCli(args: string[], onStderr?: (text: string, child: ChildProcess) => void): Promise<CliRun> {
  return spawnCli(process.execPath, [CLI, ...args], process.env, onStderr);
}

/** Run the built CLI with extra environment variables. */
export function runCliEnv(env: Record<string, string>, args: string[]): Promise<CliRun> {
  return spawnCli(process.execPath, [CLI, ...args], { ...process.env, ...env });
}

/** Run the built CLI as another (unprivileged) user, through util-linux's setpriv. */
export function runCliAs(uid: number, args: string[]): Promise<CliRun> {
  return spawnCli('setpriv', ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', process.execPath, CLI, ...args], process.env);
}
