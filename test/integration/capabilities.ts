import { spawnSync } from 'node:child_process';
import { underCi } from '../ci.js';

/**
 * Integration tests need root, iproute2, iptables, conntrack and tcpdump. On a laptop a missing one skips them
 * with the reason; under CI it is a failure (a skipped integration suite would pass for nothing).
 */
export function missingCapability(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  for (const [cmd, args] of [['ip', ['-V']], ['iptables', ['--version']], ['iptables-restore', ['--version']], ['conntrack', ['--version']], ['tcpdump', ['--version']]] as const) {
    const r = spawnSync(cmd, [...args], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `${cmd} is missing or broken`;
  }
  return null;
}

export function capabilityGate(): { skip: boolean; reason: string } {
  const missing = missingCapability();
  if (missing && underCi()) {
    throw new Error(`integration tests need root, iproute2, iptables and conntrack under CI: ${missing}`);
  }
  return { skip: missing !== null, reason: missing ?? '' };
}
