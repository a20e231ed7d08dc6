/**
 * The runner owns its VM: a record under /run/repro/vm/<runId>.json (the runner's pid, QEMU's pid, the work
 * directory) written before QEMU starts, so `repro cleanup` can find what a killed runner left; QEMU killed when
 * the runner exits however it exits; the work directory (initramfs, stage 2, the shared result directory, all in
 * the cache) removed at the end. A VM has no network device, so there is never a tap device to remove.
 */
import { mkdir, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { STATE_DIR } from '../runner/runState.js';
import { processAlive } from '../runner/runLock.js';
import { writeFileAtomic } from '../atomicWrite.js';

export const VM_STATE_DIR = path.join(STATE_DIR, 'vm');

/** QEMU's -name and process title: `repro-vm-<runId>` (15 characters, the length a process title keeps). */
export const vmName = (runId: string): string => `repro-vm-${runId}`;

export interface VmRecord {
  runId: string;
  runnerPid: number;
  qemuPid: number | null;
  name: string;
  workDir: string;
  startedAt: string;
}


/** Is `pid` still the QEMU of this VM (not a pid reused by another program)? */
export function isOurQemu(pid: number, name: string, readCmdline = (p: number): string => readFileSync(`/proc/${p}/cmdline`, 'utf8')): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return false;
  try {
    const argv = readCmdline(pid).split('\0');
    return argv.some((a) => a.startsWith(`${name},`) || a === name) && argv.some((a) => a.includes('qemu-system'));
  } catch {
    return false;
  }
}

/** SIGKILL to QEMU's process group (it runs in one of its own). */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export class VmOwner {
  private qemu: ChildProcess | null = null;
  private closed = false;
  private readonly onExit = (): void => {
    if (this.qemu?.pid !== undefined && this.qemu.exitCode === null && this.qemu.signalCode === null) killGroup(this.qemu.pid);
  };

  private constructor(readonly record: VmRecord) {
    process.on('exit', this.onExit);
  }

  get file(): string {
    return path.join(VM_STATE_DIR, `${this.record.runId}.json`);
  }

  static async open(runId: string, workDir: string): Promise<VmOwner> {
    const owner = new VmOwner({ runId, runnerPid: process.pid, qemuPid: null, name: vmName(runId), workDir, startedAt: new Date().toISOString() });
    await owner.save();
    return owner;
  }

  private async save(): Promise<void> {
    await mkdir(VM_STATE_DIR, { recursive: true });
    await writeFileAtomic(this.file, JSON.stringify(this.record, null, 2) + '\n');
  }

  /** Record a QEMU just started (the probe's or the run's). */
  async track(child: ChildProcess): Promise<void> {
    this.qemu = child;
    this.record.qemuPid = child.pid ?? null;
    await this.save();
  }

  /** Kill the current QEMU at once (the end of a grace period, a watchdog that got no answer). */
  kill(): void {
    this.onExit();
  }

  /** The end of a run: QEMU gone, work directory and record removed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.kill();
    process.off('exit', this.onExit);
    await rm(this.record.workDir, { recursive: true, force: true });
    await rm(this.file, { force: true });
    await removeIfEmpty(VM_STATE_DIR);
  }
}

/** The record directory goes when its last record does: /run/repro is left as it was found. */
async function removeIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}

export async function readVmRecords(): Promise<{ file: string; record: VmRecord }[]> {
  const names = await readdir(VM_STATE_DIR).catch(() => [] as string[]);
  const out: { file: string; record: VmRecord }[] = [];
  for (const n of names.filter((f) => f.endsWith('.json'))) {
    const file = path.join(VM_STATE_DIR, n);
    const record = await readFile(file, 'utf8').then((t) => JSON.parse(t) as VmRecord).catch(() => null);
    if (record) out.push({ file, record });
  }
  return out;
}

/**
 * `repro cleanup`: the VMs of runners that are gone (or of `runId`): QEMU killed, work directory and record
 * removed. A VM whose runner is alive is left alone unless its run is named. Returns the VMs' names.
 */
export async function cleanupVms(runId?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const { file, record } of await readVmRecords()) {
    if (runId !== undefined ? record.runId !== runId : record.runnerPid !== process.pid && processAlive(record.runnerPid)) continue;
    if (record.qemuPid !== null && isOurQemu(record.qemuPid, record.name)) killGroup(record.qemuPid);
    // Only a directory shaped like the runner's own (<cache>/vm/<runId>): a damaged record removes nothing else.
    if (path.basename(record.workDir) === record.runId && path.basename(path.dirname(record.workDir)) === 'vm') {
      await rm(record.workDir, { recursive: true, force: true });
    }
    await rm(file, { force: true });
    removed.push(record.name);
  }
  await removeIfEmpty(VM_STATE_DIR);
  return removed;
}
