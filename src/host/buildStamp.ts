import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './exec.js';

/**
 * The commit the harness was built from. A clone asks git; an installed package has no .git (and git, asked
 * there, would answer for whatever repository encloses the install prefix), so `npm pack` bakes the commit into
 * dist/stamp.json, which the package ships.
 */
export const STAMP_FILE = fileURLToPath(new URL('../stamp.json', import.meta.url));

interface Stamp {
  commit: string | null;
}

async function gitHead(root: string): Promise<string | null> {
  try {
    const r = await run('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { check: false, timeoutMs: 3000 });
    return r.code === 0 ? r.stdout.trim() : null;
  } catch {
    return null;
  }
}

/** `<commit>` of a clean tree, `<commit>-dirty` when tracked files differ from it. */
async function gitHeadMarked(root: string): Promise<string | null> {
  const head = await gitHead(root);
  if (head === null) return null;
  const status = await run('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { check: false, timeoutMs: 3000 });
  return status.code === 0 && status.stdout.trim() !== '' ? `${head}-dirty` : head;
}

/** The commit of the project at `root` (the clone's HEAD, else the stamp of the package), null when unknown. */
export async function harnessCommit(root: string): Promise<string | null> {
  if (existsSync(path.join(root, '.git'))) return gitHead(root);
  let text: string;
  try {
    text = await readFile(STAMP_FILE, 'utf8');
  } catch (err) {
    // A build that was never packed (a source archive without .git) has no stamp.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const stamp = JSON.parse(text) as Partial<Stamp>;
  return typeof stamp.commit === 'string' ? stamp.commit : null;
}

/**
 * Write dist/stamp.json for a tarball: REPRO_COMMIT when set (an image build has no .git), else the clone's HEAD.
 * Returns what it wrote.
 */
export async function writeStamp(root: string): Promise<Stamp> {
  const fromEnv = process.env['REPRO_COMMIT']?.trim();
  const commit = fromEnv ? fromEnv : existsSync(path.join(root, '.git')) ? await gitHeadMarked(root) : null;
  const stamp: Stamp = { commit };
  await writeFile(STAMP_FILE, JSON.stringify(stamp) + '\n');
  return stamp;
}
