import { access } from 'node:fs/promises';
import { run, CommandNotFoundError } from './exec.js';
import { PrerequisiteError } from '../errors.js';

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

export async function requireNetnsPrerequisites(): Promise<void> {
  if (process.platform !== 'linux') throw new PrerequisiteError('needs Linux (network namespaces, netfilter)');
  await requireRoot();
  await requireCommand('ip', ['-V'], 'install iproute2 (Debian: apt-get install iproute2)');
  await requireCommand('iptables', ['--version'], 'install iptables (Debian: apt-get install iptables)');
  await requireCommand('iptables-restore', ['--version'], 'install iptables (Debian: apt-get install iptables)');
  await requireCommand('conntrack', ['--version'], 'install conntrack-tools (Debian: apt-get install conntrack)');
  try {
    await access('/proc/sys/net/ipv4/ip_local_port_range');
  } catch {
    throw new PrerequisiteError('/proc/sys/net is not available: run on a Linux host (not a restricted container)');
  }
}
