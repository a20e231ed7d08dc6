import { writeFile } from 'node:fs/promises';
import type { ResolverFiles, TestHost } from '../topology.js';

/**
 * The docker backend: the resolver files are the container's own /etc/resolv.conf (a file Docker bind-mounts
 * per container) and /etc/nsswitch.conf, written through /proc/<pid>/root; they go with the containers.
 */
export function dockerResolverFiles(rootDir: (host: TestHost) => Promise<string>): ResolverFiles {
  return {
    async write(host, resolvConf, nsswitch) {
      const root = await rootDir(host);
      await writeFile(`${root}/etc/resolv.conf`, resolvConf);
      await writeFile(`${root}/etc/nsswitch.conf`, nsswitch);
    },
    // Nothing outside the containers was written.
    removeAll: async () => undefined,
  };
}
