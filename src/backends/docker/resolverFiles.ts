import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { IMAGE_NODE } from './image.js';
import type { ResolverFiles, TestHost } from '../topology.js';

/**
 * The docker backend: the resolver files are the container's own /etc/resolv.conf (a file Docker bind-mounts per
 * container) and /etc/nsswitch.conf; they go with the containers.
 *
 * They are written by a process inside the container (the image's node, which every agent image has), never from
 * the host through /proc/<pid>/root: there an absolute symlink the image ships (/etc/nsswitch.conf -> /etc/shadow)
 * is followed from the host's root, and the host file is overwritten. Inside, the same symlink resolves in the
 * container's own root. resolv.conf is Docker's bind mount, written in place; nsswitch.conf is renamed into place, so
 * whatever the image had there (a symlink) is replaced, not followed. The texts go as arguments (a few hundred bytes).
 */
const WRITE_SCRIPT = [
  "const fs = require('fs');",
  "fs.writeFileSync('/etc/resolv.conf', process.argv[1]);",
  "fs.writeFileSync('/etc/.nsswitch.conf.repro', process.argv[2], { flag: 'w', mode: 0o644 });",
  "fs.renameSync('/etc/.nsswitch.conf.repro', '/etc/nsswitch.conf');",
].join(' ');

/** Run a command in a running container to its end; its exit code and (the first 4 KiB of) its stderr. */
export async function execInContainer(docker: Docker, container: string, cmd: string[]): Promise<{ code: number; stderr: string }> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const err = new PassThrough();
  let stderr = '';
  out.resume();
  err.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  docker.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  const info = await exec.inspect();
  return { code: info.ExitCode ?? 1, stderr: stderr.trim() };
}

export function dockerResolverFiles(docker: Docker): ResolverFiles {
  return {
    async write(host: TestHost, resolvConf: string, nsswitch: string) {
      const r = await execInContainer(docker, host.name, [IMAGE_NODE, '-e', WRITE_SCRIPT, resolvConf, nsswitch]);
      if (r.code !== 0) throw new Error(`writing the resolver files in container ${host.name} failed (exit ${r.code}): ${r.stderr.split('\n').slice(-2).join(' | ')}`);
    },
    // Nothing outside the containers was written.
    removeAll: async () => undefined,
  };
}
