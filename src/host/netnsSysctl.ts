import { runInNetns } from './exec.js';

/** Set a namespaced sysctl (e.g. net.ipv4.ip_forward) inside a network namespace; the host's own value is untouched. */
export async function setNetnsSysctl(ns: string, key: string, value: string): Promise<void> {
  await runInNetns(ns, 'tee', [`/proc/sys/${key.replace(/\./g, '/')}`], { input: value + '\n' });
}
