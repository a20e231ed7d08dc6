import { access } from 'node:fs/promises';
import { run, CommandNotFoundError } from './exec.js';
import { PrerequisiteError } from '../errors.js';
import { installHint, LAB_COMMANDS, type SystemCommand } from './prerequisites.js';

/** One line each, saying what to install or run. */
export async function requireRoot(): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new PrerequisiteError('must run as root to create network namespaces and NAT rules (e.g. sudo npx repro ...)');
  }
}

export async function requireCommand(cmd: string, args: string[], install: string): Promise<void> {
  try {
    await run(cmd, args, { check: false, timeoutMs: 5000 });
  } catch (err) {
    if (err instanceof CommandNotFoundError) throw new PrerequisiteError(`${cmd} not found: ${install}`);
    throw err;
  }
}

/** A command of the prerequisite table (src/host/prerequisites.ts), with the package that installs it. */
export function requireSystemCommand(c: SystemCommand): Promise<void> {
  return requireCommand(c.command, [...c.probe], installHint(c));
}

export async function requireNetnsPrerequisites(): Promise<void> {
  if (process.platform !== 'linux') throw new PrerequisiteError('needs Linux (network namespaces, netfilter)');
  await requireRoot();
  for (const c of LAB_COMMANDS) await requireSystemCommand(c);
  try {
    await access('/proc/sys/net/ipv4/ip_local_port_range');
  } catch {
    throw new PrerequisiteError('/proc/sys/net is not available: run on a Linux host (not a restricted container)');
  }
}
