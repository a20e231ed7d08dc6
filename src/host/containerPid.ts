import { UserError } from '../errors.js';
import { CommandNotFoundError, run } from './exec.js';

/**
 * The pid of a running container's first process, by id or name: Docker first, then a CRI runtime through crictl.
 * A container that is not there or not running is a bad argument.
 */
export async function containerPid(id: string): Promise<number> {
  const asks: [string, string[]][] = [
    ['docker', ['inspect', '--format', '{{.State.Pid}}', id]],
    ['crictl', ['inspect', '--output', 'go-template', '--template', '{{.info.pid}}', id]],
  ];
  const reasons: string[] = [];
  for (const [cmd, args] of asks) {
    try {
      const r = await run(cmd, args, { check: false, timeoutMs: 10_000 });
      const pid = Number(r.stdout.trim());
      if (r.code === 0 && Number.isInteger(pid) && pid > 0) return pid;
      reasons.push(r.code === 0 ? `${cmd}: not running` : `${cmd}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`);
    } catch (err) {
      if (!(err instanceof CommandNotFoundError)) throw err;
    }
  }
  throw new UserError(`--container ${id}: no running container of that id or name (${reasons.join('; ') || 'neither docker nor crictl is installed'})`);
}
