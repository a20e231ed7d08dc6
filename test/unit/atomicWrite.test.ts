import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../src/atomicWrite.js';

describe('writeFileAtomic', () => {
  it('writes, replaces, and leaves no temporary file beside it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'repro-atomic-'));
    try {
      const file = path.join(dir, 'result.json');
      await writeFileAtomic(file, 'first\n');
      await writeFileAtomic(file, 'second\n');
      expect(readFileSync(file, 'utf8')).toBe('second\n');
      expect(readdirSync(dir)).toEqual(['result.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails without leaving a partial file when the target cannot be written', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'repro-atomic-'));
    try {
      // The target is a non-empty directory: the rename fails after the temporary file was written.
      const target = path.join(dir, 'taken');
      mkdirSync(path.join(target, 'inner'), { recursive: true });
      await expect(writeFileAtomic(target, 'text')).rejects.toThrow();
      expect(readdirSync(dir)).toEqual(['taken']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
