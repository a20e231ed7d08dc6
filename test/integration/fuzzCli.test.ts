import { describe, expect, it } from 'vitest';
import { rng } from '../random.js';
import { runCli } from './cli.js';
import { hostSnapshot } from './hostSnapshot.js';
import { capabilityGate } from './capabilities.js';


const TOKENS = [
  '--modes', '--clients', '--workers', '--concurrency', '--connections', '--duration', '--port-range', '--close',
  '--connect-timeout', '--json', '--out', '--backend', '--detect-rate', '--port', '--frob', '-x', '--', '---',
  'none', 'random-fully', 'fin', 'rst', 'docker', 'netns', 'auto', '0', '-1', '2.5', 'NaN', '1e999', '40000-40199',
  '99999-1', '', ' ', 'ü', '💥', '$(reboot)', '--clients=abc', '--modes=none,,', '--port-range=1-2',
];

const gate = capabilityGate();

describe.skipIf(gate.skip)('CLI under random flags', () => {
  it('answers every garbage command line with one line on stderr and exit 2, no stack trace, nothing left behind', async () => {
    const before = hostSnapshot();
    const next = rng(7);
    for (let i = 0; i < 20; i++) {
      const n = 1 + Math.floor(next() * 6);
      const tokens = Array.from({ length: n }, () => TOKENS[Math.floor(next() * TOKENS.length)] ?? '');
      // An out-of-range --clients at a random place guarantees the line is invalid: nothing may start a run.
      tokens.splice(Math.floor(next() * (tokens.length + 1)), 0, '--clients', '0');
      const args = next() < 0.85 ? ['tcp-syn', ...tokens] : tokens;
      const r = await runCli(args);
      const line = `case ${i}: ${JSON.stringify(args)}`;
      expect(r.code, `${line}\n${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), line).toHaveLength(1);
      expect(r.stderr, line).toMatch(/^repro: /);
      expect(r.stderr, line).not.toMatch(/\bat .*\.js:\d+/);
    }
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);
});
