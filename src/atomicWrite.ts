/**
 * Write a file whole or not at all: the text goes to a hidden sibling first and is renamed over the file, so a
 * process killed mid-write (a second Ctrl-C, SIGKILL) leaves the old file or the new one, never a truncated one.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
