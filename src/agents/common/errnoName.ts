import { getSystemErrorName } from 'node:util';

/**
 * An errno (either sign) by the name Node gives it (ETIMEDOUT, ECONNREFUSED, ...), as every load path names its
 * failures; one Node does not know is ERRNO_<n> (not "Unknown system error -n").
 */
export function errnoName(errno: number): string {
  const fallback = `ERRNO_${Math.abs(errno)}`;
  try {
    const name = getSystemErrorName(-Math.abs(errno));
    return /^E[A-Z0-9]+$/.test(name) ? name : fallback;
  } catch {
    return fallback;
  }
}
