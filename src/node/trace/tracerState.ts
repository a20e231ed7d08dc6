import { mkdir, readdir, readFile, rm, rmdir, lstat } from 'node:fs/promises';
import { writeFileAtomic } from '../../atomicWrite.js';

/**
 * The processes a `repro trace` (or `watch --trace`) started (bpftrace, and conntrack -E listeners), recorded in /run/repro/tracers/<repro pid>.json, so
 * that `repro cleanup` ends one left by a SIGKILL: by the recorded pid and its start time (so a recycled pid is
 * never hit), never by a command-line match.
 */
export const TRACER_DIR = '/run/repro/tracers';

export interface TracedProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: the process's start in clock ticks since boot. */
  startTicks: number;
}

export interface TracerState {
  owner: number;
  processes: TracedProcess[];
}

/** The start time of a process (field 22 of its stat; the command name may hold spaces and parentheses). */
export function startTicksOf(stat: string): number | null {
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = Number(after[19]);
  return Number.isInteger(v) ? v : null;
}

async function startTicks(pid: number): Promise<number | null> {
  try {
    return startTicksOf(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

export async function recordTracer(pids: readonly number[]): Promise<() => Promise<void>> {
  const processes: TracedProcess[] = [];
  for (const pid of pids) {
    const ticks = await startTicks(pid);
    if (ticks === null) throw new Error(`pid ${pid} ended at start`);
    processes.push({ pid, startTicks: ticks });
  }
  await mkdir(TRACER_DIR, { recursive: true, mode: 0o700 });
  const path = `${TRACER_DIR}/${process.pid}.json`;
  const state: TracerState = { owner: process.pid, processes };
  await writeFileAtomic(path, JSON.stringify(state));
  return async () => {
    await rm(path, { force: true });
    await removeDirIfEmpty();
  };
}

/** The directory goes with its last file: a host is left as found. Another tracer's file keeps it. */
async function removeDirIfEmpty(): Promise<void> {
  await rmdir(TRACER_DIR).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOTEMPTY' && err.code !== 'ENOENT' && err.code !== 'EEXIST') throw err;
  });
}

/** Does a process of this pid exist (signal 0)? */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function validState(v: unknown): v is TracerState {
  const s = v as TracerState;
  const positive = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0;
  return typeof v === 'object' && v !== null && positive(s.owner) && Array.isArray(s.processes) && s.processes.length <= 64 && s.processes.every((p) => positive(p.pid) && positive(p.startTicks));
}

/** Tracers whose repro is gone: each process still running (same pid and start) is ended; the state file is removed. Returns the pids ended. */
export async function endLeftoverTracers(): Promise<number[]> {
  let names: string[];
  try {
    names = (await readdir(TRACER_DIR)).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const ended: number[] = [];
  for (const n of names) {
    const path = `${TRACER_DIR}/${n}`;
    const st = await lstat(path);
    if (!st.isFile() || st.size > 4096) continue;
    let s: unknown;
    try {
      s = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      await rm(path, { force: true });
      continue;
    }
    if (!validState(s)) {
      await rm(path, { force: true });
      continue;
    }
    if (alive(s.owner) && s.owner !== process.pid) continue;
    for (const p of s.processes) {
      if ((await startTicks(p.pid)) !== p.startTicks) continue;
      process.kill(p.pid, 'SIGTERM');
      ended.push(p.pid);
    }
    await rm(path, { force: true });
  }
  await removeDirIfEmpty();
  return ended;
}
