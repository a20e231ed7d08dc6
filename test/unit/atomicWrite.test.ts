import { describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../src/atomicWrite.js';

const withDir = async (body: (dir: string) => Promise<void>): Promise<void> => {
  const dir = mkdtempSync(path.join(tmpdir(), 'repro-atomic-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

describe('writeFileAtomic', () => {
  it('writes, replaces when told, and leaves no temporary file beside it', () =>
    withDir(async (dir) => {
      const file = path.join(dir, 'result.json');
      await writeFileAtomic(file, 'first\n', { replace: false });
      await writeFileAtomic(file, 'second\n', { replace: true });
      expect(readFileSync(file, 'utf8')).toBe('second\n');
      expect(readdirSync(dir)).toEqual(['result.json']);
    }));

  it('keeps an existing result without replace, and says --force', () =>
    withDir(async (dir) => {
      const file = path.join(dir, 'result.json');
      writeFileSync(file, 'old\n');
      await expect(writeFileAtomic(file, 'new\n', { replace: false })).rejects.toThrow(`${file} exists: repro does not replace a result (--force replaces it)`);
      expect(readFileSync(file, 'utf8')).toBe('old\n');
      expect(readdirSync(dir)).toEqual(['result.json']);
    }));

  it('fails without leaving a partial file when the target cannot be written', () =>
    withDir(async (dir) => {
      // The target is a non-empty directory: the rename fails after the temporary file was written.
      const target = path.join(dir, 'taken');
      mkdirSync(path.join(target, 'inner'), { recursive: true });
      await expect(writeFileAtomic(target, 'text', { replace: true })).rejects.toThrow();
      expect(readdirSync(dir)).toEqual(['taken']);
    }));

  it('follows no symlink planted at the temporary name (the old one was .<name>.<pid>.tmp) or at the name', () =>
    withDir(async (dir) => {
      const decoy = path.join(dir, 'decoy');
      writeFileSync(decoy, 'precious\n');
      const out = path.join(dir, 'out');
      mkdirSync(out);
      // Every name the old code could have picked for this process.
      symlinkSync(decoy, path.join(out, `.result.json.${process.pid}.tmp`));
      symlinkSync(decoy, path.join(out, 'report.md'));
      await writeFileAtomic(path.join(out, 'result.json'), 'result\n', { replace: false });
      await expect(writeFileAtomic(path.join(out, 'report.md'), 'report\n', { replace: false })).rejects.toThrow(/exists/);
      expect(readFileSync(decoy, 'utf8')).toBe('precious\n');
      // Replacing swaps the link itself for the file, never writes through it.
      await writeFileAtomic(path.join(out, 'report.md'), 'report\n', { replace: true });
      expect(readFileSync(decoy, 'utf8')).toBe('precious\n');
      expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toBe('report\n');
    }));

  it.skipIf(process.getuid?.() !== 0)('refuses a directory other users may write into, unless it is ours', () =>
    withDir(async (dir) => {
      const shared = path.join(dir, 'shared');
      mkdirSync(shared);
      chownSync(shared, 65534, 65534);
      chmodSync(shared, 0o777);
      await expect(writeFileAtomic(path.join(shared, 'result.json'), 'x', { replace: false })).rejects.toThrow(
        `${shared} is writable by other users (mode 777, owner uid 65534): repro does not write results there — choose a directory of your own`,
      );
      expect(readdirSync(shared)).toEqual([]);
      chmodSync(shared, 0o755); // theirs but not writable by others: fine for root
      await writeFileAtomic(path.join(shared, 'result.json'), 'x', { replace: false });
      const own = path.join(dir, 'own');
      mkdirSync(own, { mode: 0o777 });
      chmodSync(own, 0o777);
      await writeFileAtomic(path.join(own, 'result.json'), 'x', { replace: false });
    }));
});
