import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';

/** --out is refused before anything runs: an existing result without --force, a directory others may write. */
describe('repro <scenario> --out', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'repro-out-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('keeps an existing result.json and says --force, before the run', async () => {
    const out = path.join(work, 'taken');
    mkdirSync(out);
    writeFileSync(path.join(out, 'result.json'), 'mine\n');
    const r = await runCli(['tcp-syn', '--backend', 'netns', '--connections', '100', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`repro: ${out}/result.json exists: repro does not replace a result (--force replaces it, or choose another --out)`);
    expect(readFileSync(path.join(out, 'result.json'), 'utf8')).toBe('mine\n');
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a world-writable directory of another user', async () => {
    const out = path.join(work, 'shared');
    mkdirSync(out);
    chownSync(out, 65534, 65534);
    chmodSync(out, 0o777);
    const r = await runCli(['tcp-syn', '--backend', 'netns', '--connections', '100', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`repro: ${out} is writable by other users (mode 777, owner uid 65534): repro does not write results there — choose a directory of your own`);
    expect(readdirSync(out)).toEqual([]);
  });
});
