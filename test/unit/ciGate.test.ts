import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { underCi } from '../ci.js';

describe('the CI gate', () => {
  it('any non-empty CI other than false/0 counts (a CI that sets CI=1 must not turn the integration suite into skips)', () => {
    for (const v of ['true', '1', 'yes', 'TRUE', 'on']) expect(underCi({ CI: v }), v).toBe(true);
    for (const v of ['', 'false', '0', 'FALSE', ' ']) expect(underCi({ CI: v }), JSON.stringify(v)).toBe(false);
    expect(underCi({})).toBe(false);
  });

  it('no test decides on its own: every read of CI goes through underCi', () => {
    const root = path.resolve(import.meta.dirname, '..');
    const own: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && p !== path.join(root, 'ci.ts') && p !== path.join(root, 'unit', 'ciGate.test.ts')) {
          if (/env\[['"]CI['"]\]|env\.CI\b/.test(readFileSync(p, 'utf8'))) own.push(path.relative(root, p));
        }
      }
    };
    walk(root);
    expect(own).toEqual([]);
  });
});
