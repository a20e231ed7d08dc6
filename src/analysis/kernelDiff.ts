import { assessKernel, type FixStatus } from './kernelFixes.js';
import type { EnvironmentInfo, KernelVersion } from '../types.js';

/** One known conntrack/NAT change whose status differs between two kernels. */
export interface KernelChangeDiff {
  id: string;
  change: string;
  race: string;
  old: FixStatus;
  new: FixStatus;
  /** What the new kernel's status means for what it can show. */
  meaning: string;
}

/** Pure: the known changes (src/analysis/kernelFixes.ts) whose status differs from one kernel version to another. */
export function kernelDifferences(oldVersion: KernelVersion, newVersion: KernelVersion): KernelChangeDiff[] {
  if (oldVersion.version === newVersion.version && oldVersion.exact === newVersion.exact) return [];
  const before = new Map(assessKernel(oldVersion).map((f) => [f.id, f]));
  return assessKernel(newVersion).flatMap((n) => {
    const o = before.get(n.id);
    return o && o.status !== n.status ? [{ id: n.id, change: n.change, race: n.race, old: o.status, new: n.status, meaning: n.meaning }] : [];
  });
}

/** Pure: how a run's environment says it ran, for a caveat: "in a VM under TCG (emulated)", or null on the host. */
export function vmCaveat(env: EnvironmentInfo): string | null {
  if (!env.vm) return null;
  return env.vm.accel === 'tcg'
    ? `in a VM under TCG (emulated CPUs, kernel ${env.vm.kernelSource}): its rates and latencies do not transfer to hardware; counters, schedules and clash resolution do`
    : `in a KVM guest (kernel ${env.vm.kernelSource}, ${env.vm.cpus} vCPUs)`;
}
