import { mkdir, readFile } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { STATE_DIR } from './runState.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../atomicWrite.js';

/**
 * One run at a time per host: two runs would rewrite NAT rules and read host-wide conntrack counters under each
 * other.
 *
 * The lock is one the kernel holds: a listening Unix socket in the abstract namespace, named after the lock file
 * (`\0repro-lock:/run/repro/lock`). bind(2) gives the name to one socket only, atomically, and the kernel frees it
 * when the process dies however it dies (SIGKILL included), so there is no stale lock to judge or take over — the
 * old file lock's read-judge-remove-create let two starters both win, and could delete a lock being created.
 * (Node has no flock(2); a native addon is optional in this project — a machine without a compiler still runs — so
 * the lock must not depend on one. link-then-verify still needs a staleness rule.) The name lives in the network
 * namespace runs start in, the host's.
 *
 * The file beside it says who holds the lock, for the message a second starter prints; the holder writes it after
 * taking the lock and deletes it on release only if it is still its own. It also keeps out, and is respected by, a
 * repro of the file-lock era (or one in another network namespace sharing /run/repro): a file naming another live
 * repro process when we hold the name is such a holder, and we step back. The file is never deleted for being stale.
 */
export const LOCK_FILE = path.join(STATE_DIR, 'lock');

export interface LockOwner {
  pid: number;
  command: string;
  startedAt: string;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Is the owner still the repro process that wrote the lock (not a dead pid, nor a reused one)? */
export function ownerIsLive(owner: LockOwner, readCmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8')): boolean {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0 || !processAlive(owner.pid)) return false;
  if (owner.pid === process.pid) return true;
  try {
    const cmdline = readCmdline(owner.pid).replace(/\0/g, ' ');
    return /repro|cli\.js|bench/.test(cmdline);
  } catch {
    return false;
  }
}

export function describeOwner(owner: LockOwner, file: string): string {
  return `another repro run holds ${file}: pid ${owner.pid}, started ${owner.startedAt}, \`${owner.command}\` — wait for it to finish (or stop it)`;
}

/** The abstract socket name of a lock file (a leading NUL: no file is made; the kernel keeps the name). */
export const lockSocketName = (file: string): string => `\0repro-lock:${path.resolve(file)}`;

async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    const o = JSON.parse(await readFile(file, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.command === 'string' && typeof o.startedAt === 'string' ? { pid: o.pid, command: o.command, startedAt: o.startedAt } : null;
  } catch {
    return null;
  }
}

function bindName(name: string): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(null) : reject(err)));
    server.listen({ path: name, exclusive: true }, () => {
      // The lock must not keep the process alive.
      server.unref();
      resolve(server);
    });
  });
}

export class RunLock {
  private released = false;
  private readonly onExit = (): void => this.releaseSync();

  private constructor(readonly file: string, private readonly server: net.Server) {
    process.on('exit', this.onExit);
  }

  /** Take the lock or fail with one line saying who holds it (exit 2). */
  static async acquire(command: string, file = LOCK_FILE): Promise<RunLock> {
    const server = await bindName(lockSocketName(file));
    if (!server) {
      const owner = await readOwner(file);
      // No owner file yet: the holder has just taken the lock and not written it (or is not repro).
      throw new UserError(
        owner && ownerIsLive(owner) ? describeOwner(owner, file) : `another process holds the run lock (${file} does not name it yet) — wait for it, or find it with \`ss -xlp | grep repro-lock\``,
      );
    }
    const lock = new RunLock(file, server);
    try {
      const before = await readOwner(file);
      if (before && before.pid !== process.pid && ownerIsLive(before)) throw new UserError(describeOwner(before, file));
      await mkdir(path.dirname(file), { recursive: true });
      const text = JSON.stringify({ pid: process.pid, command, startedAt: new Date().toISOString() } satisfies LockOwner) + '\n';
      // Created where there is none (a file-lock repro creating one meanwhile keeps it: we step back); a dead
      // owner's file is replaced.
      await writeFileAtomic(file, text, { replace: false }).catch(async (err: unknown) => {
        const now = await readOwner(file);
        if (now && ownerIsLive(now)) throw new UserError(describeOwner(now, file));
        if (!(err instanceof UserError)) throw err;
        await writeFileAtomic(file, text, { replace: true });
      });
    } catch (err) {
      lock.releaseSync();
      throw err;
    }
    return lock;
  }

  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    // The owner file first, while the name is still ours: no one else can have written it meanwhile.
    try {
      const owner = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<LockOwner>;
      if (owner.pid === process.pid) rmSync(this.file, { force: true });
    } catch {
      // Gone or not ours to judge: left alone.
    }
    this.server.close();
  }

  async release(): Promise<void> {
    this.releaseSync();
  }
}
