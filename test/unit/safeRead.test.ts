import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printable, readInRoot, readWholeInRoot } from '../../src/host/safeRead.js';

describe('safeRead', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'repro-saferead-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('escapes C0, DEL and C1 controls, keeps tab and (when asked) newline', () => {
    expect(printable('a\u001b[2Jb\tc\nd\u007f\u0085')).toBe('a\\x1b[2Jb\tc\\x0ad\\x7f\\x85');
    expect(printable('x\ny', true)).toBe('x\ny');
  });

  it('caps a read and says so; the whole-file reader refuses instead', async () => {
    writeFileSync(path.join(root, 'big'), 'x'.repeat(100));
    expect(await readInRoot(root, 'big', { maxBytes: 10 })).toEqual({ text: 'x'.repeat(10), truncated: true });
    await expect(readWholeInRoot(root, 'big', 10)).rejects.toThrow(/big: larger than 10 bytes, not read/);
    expect(await readWholeInRoot(root, 'big', 100)).toBe('x'.repeat(100));
  });

  it('resolves absolute and relative symlinks inside the root', async () => {
    mkdirSync(path.join(root, 'a/b'), { recursive: true });
    writeFileSync(path.join(root, 'a/b/f'), 'inside');
    symlinkSync('/a/b/f', path.join(root, 'abs'));
    symlinkSync('../../../../a/./b//f', path.join(root, 'a/rel'));
    expect(await readWholeInRoot(root, '/abs')).toBe('inside');
    expect(await readWholeInRoot(root, 'a/rel')).toBe('inside');
    await expect(readWholeInRoot(root, 'a/b/f/x')).rejects.toThrow(/ENOTDIR/);
    await expect(readWholeInRoot(root, 'a')).rejects.toThrow(/a directory, not read/);
  });
});
