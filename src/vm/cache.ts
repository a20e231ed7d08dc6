/**
 * The cache a VM run reads its guest's init, kernels and modules from: root's own, never a user's. Under `sudo -E`
 * a cache below $HOME or $XDG_CACHE_HOME would be the user's, and whoever owns it controls stage 2 (the guest's
 * init, run as root) and the kernel booted. So it is /var/cache/repro (REPRO_CACHE_DIR moves it, for tests), created
 * 0700, and refused when another user owns it or others may write it.
 */
import { lstat, mkdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { PrerequisiteError } from '../errors.js';

export const DEFAULT_CACHE_DIR = '/var/cache/repro';

export function reproCacheDir(): string {
  return process.env['REPRO_CACHE_DIR'] || DEFAULT_CACHE_DIR;
}

/** Pure: why `dir` (its lstat) is not a cache this process may trust, or null when it is. */
export function cacheDirProblem(dir: string, st: Pick<Stats, 'uid' | 'mode' | 'isDirectory' | 'isSymbolicLink'>, uid: number): string | null {
  if (st.isSymbolicLink()) return `${dir} is a symlink: the cache must be a directory of its own`;
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not by this user (uid ${uid}): whoever owns it controls the guest's init`;
  if ((st.mode & 0o022) !== 0) return `${dir} is writable by its group or by others (mode ${(st.mode & 0o7777).toString(8)}): chmod 700 it`;
  return null;
}

/** The cache directory, created 0700 when missing, checked either way; a PrerequisiteError names what is wrong. */
export async function ensureCacheDir(dir: string = reproCacheDir()): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const problem = cacheDirProblem(dir, await lstat(dir), process.getuid?.() ?? 0);
  if (problem !== null) throw new PrerequisiteError(`refusing the cache: ${problem}`);
  return dir;
}
