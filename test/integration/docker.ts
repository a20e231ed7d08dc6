import { spawnSync } from 'node:child_process';
import { underCi } from '../ci.js';

/**
 * The docker backend's tests need a daemon that answers. On a laptop without one they skip with the reason;
 * under CI (where .ci/run starts dockerd) a missing daemon is a failure.
 */
export function dockerGate(): { skip: boolean; reason: string } {
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' });
  const missing = r.error ? 'docker CLI not found' : r.status !== 0 ? 'no Docker daemon answers' : null;
  if (missing && underCi()) {
    throw new Error(`docker integration tests need a running Docker daemon under CI: ${missing}`);
  }
  return { skip: missing !== null, reason: missing ?? '' };
}

/** Tags of the harness's cached agent images. */
export function agentImages(): string[] {
  const r = spawnSync('docker', ['images', 'repro-agent', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
}
