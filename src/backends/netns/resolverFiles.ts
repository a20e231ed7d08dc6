import { mkdir, readdir, rm, rmdir, writeFile, stat } from 'node:fs/promises';
import type { ResolverFiles } from '../topology.js';

/** `ip netns exec NS` bind-mounts every file of /etc/netns/NS over /etc: a per-namespace /etc/resolv.conf. */
export const NETNS_ETC = '/etc/netns';
/**
 * Left in /etc/netns by the run that had to create the directory: whichever run (or cleanup) later finds nothing
 * else there removes both, so a directory the host had before stays and one the harness made goes.
 */
export const CREATED_MARKER = '.repro-created';

async function removeEtcDirIfOnlyOurs(): Promise<void> {
  const left = await readdir(NETNS_ETC).catch(() => null);
  // Only a directory the harness made (its marker still there) and that holds nothing else: an empty /etc/netns the
  // host had before stays.
  if (left === null || !left.includes(CREATED_MARKER) || left.some((n) => n !== CREATED_MARKER)) return;
  await rm(`${NETNS_ETC}/${CREATED_MARKER}`, { force: true });
  await rmdir(NETNS_ETC).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** The netns backend: /etc/netns/<namespace>/{resolv.conf,nsswitch.conf}, removed again by `removeAll`. */
export function netnsResolverFiles(): ResolverFiles {
  const written = new Set<string>();
  return {
    async write(host, resolvConf, nsswitch) {
      if (!(await exists(NETNS_ETC))) {
        await mkdir(NETNS_ETC, { recursive: true });
        await writeFile(`${NETNS_ETC}/${CREATED_MARKER}`, 'created by repro; removed with the last resolver files of its runs\n');
      }
      const dir = `${NETNS_ETC}/${host.name}`;
      written.add(dir);
      await mkdir(dir, { recursive: true });
      await writeFile(`${dir}/resolv.conf`, resolvConf);
      await writeFile(`${dir}/nsswitch.conf`, nsswitch);
    },
    async removeAll() {
      for (const dir of written) await rm(dir, { recursive: true, force: true });
      written.clear();
      await removeEtcDirIfOnlyOurs();
    },
  };
}

/** For `repro cleanup`: remove the /etc/netns/<namespace> directories a killed run left, by name; returns them. */
export async function removeResolverDirs(owned: (namespace: string) => boolean, dryRun = false): Promise<string[]> {
  const names = await readdir(NETNS_ETC).catch(() => [] as string[]);
  const mine = names.filter(owned);
  if (dryRun) return mine;
  for (const n of mine) await rm(`${NETNS_ETC}/${n}`, { recursive: true, force: true });
  await removeEtcDirIfOnlyOurs();
  return mine;
}
