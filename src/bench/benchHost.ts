/**
 * What every bench section measures around a load besides its own counts: the whole host's CPU time (from
 * /proc/stat: the load, the servers, the kernel's NAT and softirq work together), and the file the results go to.
 */
import { readFile } from 'node:fs/promises';

/** USER_HZ: the unit of /proc/stat on Linux. */
const USER_HZ = 100;

/** Busy (non-idle, non-iowait) CPU seconds of the whole host since boot. */
export async function hostBusyCpuSeconds(): Promise<number> {
  const first = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const v = first.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  // guest and guest_nice (fields 9, 10) are already counted in user and nice.
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
  return (total - idle) / USER_HZ;
}

/** CPU seconds per 1 000 attempts, to three decimals. */
export function perThousand(cpuSeconds: number, attempts: number): number {
  return attempts > 0 ? Math.round((cpuSeconds / (attempts / 1000)) * 1000) / 1000 : 0;
}

/** ours / baseline, to two decimals (0 when the baseline did nothing). */
export function ratio(ours: number, baseline: number): number {
  return baseline > 0 ? Math.round((ours / baseline) * 100) / 100 : 0;
}
