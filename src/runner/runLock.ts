import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from './runState.js';
import { UserError } from '../errors.js';

/**
 * One run at a time per host: two runs would rewrite NAT rules and read host-wide conntrack counters
 * under each other. The lock is a file created with O_EXCL holding the owner's pid and command; a lock
 * whose pid is gone (or now belongs to another program) is stale and taken over.
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

/** Remove the lock when its owner is gone (a killed run leaves it behind); a live owner's lock stays. */
export async function removeStaleLock(file = LOCK_FILE): Promise<boolean> {
  let owner: LockOwner | null = null;
  try {
    owner = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    owner = null; // unreadable: stale
  }
  if (owner && ownerIsLive(owner)) return false;
  await rm(file, { force: true });
  return true;
}

export class RunLock {
  private released = false;
  private readonly onExit = (): void => this.releaseSync();

  private constructor(readonly file: string) {
    process.on('exit', this.onExit);
  }

  /** Take the lock or fail with one line saying who holds it (exit 2). Stale locks are taken over. */
  static async acquire(command: string, file = LOCK_FILE): Promise<RunLock> {
    await mkdir(path.dirname(file), { recursive: true });
    const me: LockOwner = { pid: process.pid, command, startedAt: new Date().toISOString() };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(file, 'wx', 0o644);
        await fh.writeFile(JSON.stringify(me) + '\n');
        await fh.close();
        return new RunLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner: LockOwner | null = null;
      try {
        owner = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
      } catch {
        owner = null; // unreadable or half-written: treat as stale
      }
      if (owner && ownerIsLive(owner)) throw new UserError(describeOwner(owner, file));
      await rm(file, { force: true }); // stale: its owner is gone
    }
    throw new UserError(`could not take the run lock ${file}: another run keeps creating it`);
  }

  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    rmSync(this.file, { force: true });
  }

  async release(): Promise<void> {
    this.releaseSync();
  }
}
