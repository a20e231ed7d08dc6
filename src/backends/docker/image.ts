import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type Docker from 'dockerode';
import { run } from '../../host/exec.js';
import { UserError } from '../../errors.js';

/**
 * The agents' image, built offline: a root file system holding the host's `node`, the shared libraries `ldd`
 * lists for it, the compiled project and its production dependencies, fed to the daemon as `docker import`.
 * No registry is needed. The image is tagged by a hash of its content, so an unchanged project starts a second
 * run in seconds; older tags of the harness's image are removed when a new one is built.
 */
export const IMAGE_REPO = 'repro-agent';
/** Where the project lives inside the image; docker/Dockerfile builds the same layout. */
export const IMAGE_PROJECT_DIR = '/opt/repro';
export const IMAGE_NODE = '/usr/local/bin/node';

interface ImageFile {
  /** Path inside the image, without a leading slash. */
  name: string;
  /** Path on the host. */
  source: string;
  mode: number;
}

const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Shared libraries of a binary as `ldd` lists them (absolute paths, the dynamic loader included). */
export function parseLdd(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    const p = arrow?.[1] ?? bare?.[1];
    if (p) out.push(p);
  }
  return out;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Production dependency folders, as npm resolves them (for the project's folder, whatever the current directory). */
async function productionPackageDirs(): Promise<string[]> {
  const r = await run('npm', ['ls', '--omit=dev', '--parseable', '--all', '--prefix', projectRoot], { check: false });
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(path.join(projectRoot, 'node_modules')));
}

async function imageFiles(): Promise<ImageFile[]> {
  const files: ImageFile[] = [];
  const node = await realpath(process.execPath);
  files.push({ name: IMAGE_NODE.slice(1), source: node, mode: 0o755 });
  const ldd = await run('ldd', [process.execPath]);
  for (const lib of parseLdd(ldd.stdout)) {
    files.push({ name: lib.slice(1), source: await realpath(lib), mode: 0o755 });
  }
  const add = async (hostDir: string): Promise<void> => {
    for (const f of await walk(hostDir)) {
      if (f.endsWith('.map')) continue;
      files.push({ name: path.join(IMAGE_PROJECT_DIR, path.relative(projectRoot, f)).slice(1), source: f, mode: 0o644 });
    }
  };
  await add(path.join(projectRoot, 'dist'));
  for (const dir of await productionPackageDirs()) await add(dir);
  files.push({ name: path.join(IMAGE_PROJECT_DIR, 'package.json').slice(1), source: path.join(projectRoot, 'package.json'), mode: 0o644 });
  const seen = new Set<string>();
  return files.filter((f) => (seen.has(f.name) ? false : (seen.add(f.name), true))).sort((a, b) => a.name.localeCompare(b.name));
}

async function hashFiles(files: readonly ImageFile[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${f.name}\0${f.mode}\0`);
    await new Promise<void>((resolve, reject) => {
      createReadStream(f.source).on('data', (d) => h.update(d)).on('end', resolve).on('error', reject);
    });
  }
  return h.digest('hex').slice(0, 16);
}

function tarStream(files: readonly ImageFile[]): Readable {
  const pack = tar.pack();
  void (async () => {
    for (const dir of ['tmp', 'etc']) pack.entry({ name: dir, type: 'directory', mode: dir === 'tmp' ? 0o1777 : 0o755 });
    pack.entry({ name: 'etc/passwd' }, 'root:x:0:0:root:/root:/bin/false\n');
    pack.entry({ name: 'etc/group' }, 'root:x:0:\n');
    pack.entry({ name: 'etc/nsswitch.conf' }, 'hosts: files dns\n');
    for (const f of files) {
      const size = (await stat(f.source)).size;
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: f.name, size, mode: f.mode }, (err) => (err ? reject(err) : resolve()));
        createReadStream(f.source).on('error', reject).pipe(entry);
      });
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  // tar-stream packs are streamx streams; hand Node (and docker-modem) a plain Readable.
  return Readable.from(pack);
}

/** dockerode resolves a failed import without error: the failure is an {error, errorDetail} line in the stream. */
export function progressError(lines: string): string | null {
  for (const line of lines.split('\n')) {
    if (!line.trim()) continue;
    try {
      const m = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
      if (m.error || m.errorDetail) return m.errorDetail?.message ?? m.error ?? 'unknown error';
    } catch {
      // not JSON: ignore
    }
  }
  return null;
}

async function imageExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

export interface AgentImage {
  name: string;
  built: boolean;
  seconds: number;
}

/** The cached image for the current project, building it (offline) when it is missing. */
export async function ensureAgentImage(docker: Docker, onPhase: (t: string) => void = () => undefined): Promise<AgentImage> {
  const t0 = Date.now();
  const files = await imageFiles();
  const tag = await hashFiles(files);
  const name = `${IMAGE_REPO}:${tag}`;
  if (await imageExists(docker, name)) return { name, built: false, seconds: (Date.now() - t0) / 1000 };

  onPhase(`building image ${name} offline from the host's node and the compiled project (${files.length} files)`);
  const stream = await docker.importImage(tarStream(files) as unknown as string /* dockerode's types say path; a stream is accepted */, {
    repo: IMAGE_REPO,
    tag,
    changes: [`LABEL repro.image=agent`, `WORKDIR ${IMAGE_PROJECT_DIR}`],
  });
  const output = await new Promise<string>((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
  const failure = progressError(output);
  if (failure) throw new UserError(`the Docker daemon refused the agent image: ${failure}`);
  if (!(await imageExists(docker, name))) throw new UserError(`the Docker daemon did not keep the agent image ${name}: ${output.slice(0, 200)}`);
  await removeOtherAgentImages(docker, name);
  return { name, built: true, seconds: (Date.now() - t0) / 1000 };
}

/** Remove the harness's older image tags (never anyone else's images). */
export async function removeOtherAgentImages(docker: Docker, keep: string): Promise<string[]> {
  const removed: string[] = [];
  for (const img of await docker.listImages({ filters: { reference: [IMAGE_REPO] } })) {
    const tags = img.RepoTags ?? [];
    if (tags.includes(keep) || !tags.every((t) => t.startsWith(`${IMAGE_REPO}:`))) continue;
    try {
      await docker.getImage(img.Id).remove({ force: true });
      removed.push(...tags);
    } catch {
      // in use or already gone: leave it
    }
  }
  return removed;
}
