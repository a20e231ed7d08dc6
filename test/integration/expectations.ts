import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from './cli.js';
import type { ResultFile } from '../../src/types.js';

/** Each command line must be refused with exit code 2 and one stderr line matching its pattern. */
export async function expectRefusals(cases: readonly [string[], RegExp][]): Promise<void> {
  for (const [args, pattern] of cases) {
    const r = await runCli(args);
    expect(r.code, args.join(' ')).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }
}

/**
 * Run the CLI, send SIGINT as soon as its stderr matches `when` (the load is running), and check the contract:
 * exit 130, a partial result marked interrupted in `out`, every mode's attempts adding up. Returns the result.
 */
export async function interruptedRun(args: string[], when: RegExp, out: string): Promise<ResultFile> {
  let sent = false;
  const r = await runCli([...args, '--out', out], (text, child) => {
    if (!sent && when.test(text)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  expect(sent).toBe(true);
  expect(r.code).toBe(130);
  const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as ResultFile;
  expect(result.interrupted).toBe(true);
  expect(result.modes.length).toBeLessThanOrEqual(1);
  for (const m of result.modes) expect(m.succeeded + m.failed).toBe(m.attempts);
  return result;
}

/** Run the CLI and SIGKILL it as soon as its stderr matches `when` (the load is running): a run left behind. */
export async function killedRun(args: string[], when = /\b\d[\d,]* attempts\b/): Promise<void> {
  let killed = false;
  await runCli(args, (text, child) => {
    if (!killed && when.test(text)) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  expect(killed).toBe(true);
}
