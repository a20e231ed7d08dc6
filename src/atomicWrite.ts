/**
 * Write a file whole or not at all: the text goes to a hidden sibling first and is renamed (or linked) onto the
 * file, so a process killed mid-write (a second Ctrl-C, SIGKILL) leaves the old file or the new one, never a
 * truncated one.
 *
 * repro runs as root and writes where --out says, so the directory may be shared with other users:
 * - the sibling's name is random and it is created with O_CREAT|O_EXCL|O_NOFOLLOW: a name planted in advance (a
 *   symlink to /etc/shadow) makes the open fail instead of being followed;
 * - a directory that other users may write into (group/world-writable and not ours) is refused: they could swap
 *   what we write between our calls;
 * - without `replace`, an existing file is kept: the temp file is hard-linked to the name (link(2) fails with
 *   EEXIST, atomically) and the caller says so (--force replaces).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';

export interface WriteOptions {
  /**
   * Replace an existing file. Results and reports pass `replace: force` (false: refuse with a UserError that names
   * --force); repro's own state files (/run/repro) are rewritten as they change, the default.
   */
  replace: boolean;
}

/** The directory is ours to write in: not writable by a group or the world unless we own it. */
export async function checkOutputDir(dir: string): Promise<void> {
  const st = await stat(dir);
  if (!st.isDirectory()) throw new UserError(`${dir} is not a directory`);
  const uid = process.geteuid?.() ?? 0;
  if ((st.mode & 0o022) !== 0 && st.uid !== uid) {
    throw new UserError(
      `${dir} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}, owner uid ${st.uid}): repro does not write results there — choose a directory of your own`,
    );
  }
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export async function writeFileAtomic(file: string, text: string, opts: WriteOptions = { replace: true }): Promise<void> {
  const dir = path.dirname(file);
  await checkOutputDir(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const fh = await open(tmp, CREATE, 0o644);
  try {
    try {
      await fh.writeFile(text);
    } finally {
      await fh.close();
    }
    if (opts.replace) {
      await rename(tmp, file);
      return;
    }
    try {
      await link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`${file} exists: repro does not replace a result (--force replaces it)`);
      throw err;
    }
    await rm(tmp, { force: true });
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
