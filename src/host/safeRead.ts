import { constants, type Stats } from 'node:fs';
import { open, opendir, readlink, type FileHandle } from 'node:fs/promises';

/**
 * Reading files that someone else controls: a container's root file system (through /proc/<pid>/root), a pod
 * sandbox's resolv.conf. Whoever owns them can plant a FIFO (a plain read blocks for good), a symlink to /dev/zero
 * or a huge file (memory), an absolute symlink (followed from *our* root: a host file read or written instead), and
 * control characters for the terminal. So:
 * - a path is resolved inside the given root one component at a time, each opened O_PATH|O_NOFOLLOW relative to
 *   the directory before it (through /proc/self/fd/N, Node has no openat): a symlink is read as text and its target
 *   resolved again inside the same root (an absolute one from that root, `..` never above it), as the kernel's
 *   RESOLVE_IN_ROOT would. Magic links (/proc/self/root in the container's procfs) are never followed either: they
 *   are symlinks to O_NOFOLLOW, and their text resolves inside the root.
 * - the file is opened for reading only after fstat of the O_PATH descriptor says it is a regular file (opening a
 *   device or FIFO can have effects of its own), with O_NONBLOCK|O_NOCTTY, and read up to a cap.
 * - what is printed from it goes through `printable`.
 */

/** O_PATH (Linux, same value on x86-64 and arm64): a descriptor that names an inode without opening the file. */
const O_PATH = 0o10000000;
/** Symlinks resolved in one path before giving up, like the kernel's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;
/** Components walked in one resolution (a chain of symlinks each naming many components). */
const MAX_COMPONENTS = 4096;
export const DEFAULT_MAX_BYTES = 64 * 1024;

export class UnsafeFileError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'UnsafeFileError';
  }
}

const fdPath = (fh: FileHandle, name?: string): string => `/proc/self/fd/${fh.fd}${name === undefined ? '' : `/${name}`}`;

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/**
 * The O_PATH descriptor of `rel` resolved inside `root` (a directory: '/' for the host, /proc/<pid>/root for a
 * process). The caller closes it. ENOENT and the like come through as the fs error.
 */
export async function resolveInRoot(root: string, rel: string): Promise<FileHandle> {
  const display = `${root.replace(/\/$/, '')}/${rel.replace(/^\/+/, '')}`;
  // The root itself is opened following its link: /proc/<pid>/root is the magic link we mean to cross.
  const stack: FileHandle[] = [await open(root, O_PATH | constants.O_DIRECTORY)];
  const pending = rel.split('/');
  let symlinks = 0;
  let walked = 0;
  try {
    while (pending.length > 0) {
      const name = pending.shift() ?? '';
      if (name === '' || name === '.') continue;
      if (++walked > MAX_COMPONENTS) throw new UnsafeFileError(display, `more than ${MAX_COMPONENTS} path components`);
      const dir = stack[stack.length - 1] as FileHandle;
      if (name === '..') {
        // Never above the root: its `..` is itself, as in a chroot.
        if (stack.length > 1) await (stack.pop() as FileHandle).close();
        continue;
      }
      const fh = await open(fdPath(dir, name), O_PATH | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
        // Said with the path asked for, not the /proc/self/fd one it was looked up through.
        throw Object.assign(new Error(`${err.code ?? 'error'}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message.split(',')[0]?.replace(/^\w+: /, '')}, ${display}`), { code: err.code });
      });
      const st = await fh.stat();
      if (st.isSymbolicLink()) {
        await fh.close();
        if (++symlinks > MAX_SYMLINKS) throw new UnsafeFileError(display, `more than ${MAX_SYMLINKS} symbolic links`);
        // The link's text, read through its parent's descriptor: a swap meanwhile gives another path inside the root.
        const target = await readlink(fdPath(dir, name));
        if (target.startsWith('/')) while (stack.length > 1) await (stack.pop() as FileHandle).close();
        pending.unshift(...target.split('/'));
        continue;
      }
      if (pending.some((p) => p !== '' && p !== '.') && !st.isDirectory()) {
        await fh.close();
        throw Object.assign(new Error(`ENOTDIR: not a directory, ${display}`), { code: 'ENOTDIR' });
      }
      stack.push(fh);
    }
    const last = stack.pop() as FileHandle;
    return last;
  } finally {
    for (const fh of stack) await fh.close();
  }
}

export interface SafeText {
  text: string;
  /** The file was longer than the cap: `text` is its first maxBytes bytes. */
  truncated: boolean;
}

/**
 * Read a regular file at `rel` inside `root`, at most `maxBytes` (64 KiB by default). Refuses (UnsafeFileError) a
 * FIFO, device, socket or directory; with `whole`, a file longer than the cap is refused too rather than cut.
 */
export async function readInRoot(root: string, rel: string, opts: { maxBytes?: number } = {}): Promise<SafeText> {
  const max = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const display = `${root.replace(/\/$/, '')}/${rel.replace(/^\/+/, '')}`;
  const ref = await resolveInRoot(root, rel);
  let fh: FileHandle | undefined;
  try {
    const st = await ref.stat();
    if (!st.isFile()) throw new UnsafeFileError(display, `${kindOf(st)}, not read`);
    // Reopen the very inode the O_PATH descriptor names (no second lookup), for reading.
    fh = await open(fdPath(ref), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const buf = Buffer.alloc(max + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { text: buf.subarray(0, Math.min(got, max)).toString('utf8'), truncated: got > max };
  } finally {
    await fh?.close();
    await ref.close();
  }
}

/** Like readInRoot, but a file over the cap is an error (a config read in part would be misread). */
export async function readWholeInRoot(root: string, rel: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string> {
  const r = await readInRoot(root, rel, { maxBytes });
  if (r.truncated) {
    throw new UnsafeFileError(`${root.replace(/\/$/, '')}/${rel.replace(/^\/+/, '')}`, `larger than ${maxBytes} bytes, not read`);
  }
  return r.text;
}

/** Does `rel` exist inside `root` (symlinks resolved inside it)? */
export async function existsInRoot(root: string, rel: string): Promise<boolean> {
  try {
    await (await resolveInRoot(root, rel)).close();
    return true;
  } catch {
    return false;
  }
}

/** The names in directory `rel` inside `root`, at most `maxEntries` of them; [] when it is missing or no directory. */
export async function listInRoot(root: string, rel: string, maxEntries = 10_000): Promise<string[]> {
  let ref: FileHandle;
  try {
    ref = await resolveInRoot(root, rel);
  } catch {
    return [];
  }
  try {
    if (!(await ref.stat()).isDirectory()) return [];
    const dir = await opendir(fdPath(ref));
    const names: string[] = [];
    // for-await closes the directory when it ends, breaks or throws.
    for await (const e of dir) {
      names.push(e.name);
      if (names.length >= maxEntries) break;
    }
    return names;
  } finally {
    await ref.close();
  }
}

/**
 * Text from a hostile file made safe for a terminal: C0 controls (but tab and, with `keepNewlines`, newline), DEL
 * and C1 controls become visible \xNN escapes, so an escape sequence cannot move the cursor or set a title.
 */
export function printable(s: string, keepNewlines = false): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    c === '\t' || (keepNewlines && c === '\n') ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
