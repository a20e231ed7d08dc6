import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerGate } from './docker.js';
import { connectDocker } from '../../src/backends/docker/daemon.js';
import { IMAGE_NODE, parseLdd } from '../../src/backends/docker/image.js';
import { dockerResolverFiles } from '../../src/backends/docker/resolverFiles.js';
import type { TestHost } from '../../src/backends/topology.js';

/**
 * An image given with --image is someone else's file system. This one ships /etc/nsswitch.conf and /etc/hosts as
 * absolute symlinks to a decoy file on the host (as one would to /etc/shadow). It is built offline the way
 * image.ts builds the agents' (`docker import` of a tar: the host's node and its libraries), then the docker
 * backend writes the container's resolver files. The decoy must stay as it was.
 */
const gate = dockerGate();

describe.skipIf(gate.skip)(`docker backend and an image whose /etc files are symlinks to the host${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  let docker: Docker;
  const tag = `repro-test-hostile:${process.pid}`;
  const name = `repro-test-hostile-${process.pid}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'repro-decoy-'));
  const decoy = path.join(dir, 'nsswitch.conf');

  beforeAll(async () => {
    docker = (await connectDocker()).docker;
    writeFileSync(decoy, 'precious host file\n');
    const pack = tar.pack();
    pack.entry({ name: 'etc', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'tmp', type: 'directory', mode: 0o1777 });
    pack.entry({ name: 'etc/nsswitch.conf', type: 'symlink', linkname: decoy });
    const node = realpathSync(process.execPath);
    const files = [{ name: IMAGE_NODE.slice(1), source: node }];
    for (const lib of parseLdd(execFileSync('ldd', [process.execPath], { encoding: 'utf8' }))) files.push({ name: lib.slice(1), source: realpathSync(lib) });
    // Packed while the daemon reads (each entry waits for the reader, as in image.ts).
    const packing = (async () => {
      for (const f of files) {
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({ name: f.name, size: statSync(f.source).size, mode: 0o755 }, (err) => (err ? reject(err) : resolve()));
          createReadStream(f.source).on('error', reject).pipe(entry);
        });
      }
      pack.finalize();
    })();
    const [repo, t] = tag.split(':') as [string, string];
    const stream = await docker.importImage(Readable.from(pack) as unknown as string, { repo, tag: t });
    await packing;
    await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject).resume());
    const c = await docker.createContainer({ name, Image: tag, Entrypoint: [IMAGE_NODE], Cmd: ['-e', 'setInterval(() => undefined, 1 << 30)'], HostConfig: { NetworkMode: 'none' } });
    await c.start();
  }, 120_000);

  afterAll(async () => {
    await docker.getContainer(name).remove({ force: true }).catch(() => undefined);
    await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the resolver files inside the container; the host file the symlink names is untouched', { timeout: 30_000 }, async () => {
    const host: TestHost = { name, address: '0.0.0.0' } as TestHost;
    await dockerResolverFiles(docker).write(host, 'nameserver 192.0.2.53\n', 'hosts: dns\n');
    expect(readFileSync(decoy, 'utf8')).toBe('precious host file\n');
    // The container's own view: the symlink's target inside it holds what was written, and so does resolv.conf.
    const inside = await docker.getContainer(name).exec({ Cmd: [IMAGE_NODE, '-e', `process.stdout.write(require('fs').readFileSync('/etc/nsswitch.conf', 'utf8') + require('fs').readFileSync('/etc/resolv.conf', 'utf8'))`], AttachStdout: true, AttachStderr: true });
    const s = await inside.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    await new Promise((r) => s.once('end', r));
    // demux by hand: 8-byte frame headers
    const raw = Buffer.concat(chunks);
    let text = '';
    for (let i = 0; i + 8 <= raw.length; ) {
      const len = raw.readUInt32BE(i + 4);
      text += raw.subarray(i + 8, i + 8 + len).toString('utf8');
      i += 8 + len;
    }
    expect(text).toBe('hosts: dns\nnameserver 192.0.2.53\n');
  });
});
