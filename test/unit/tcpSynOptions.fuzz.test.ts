import { describe, expect, it } from 'vitest';
import { rng } from '../random.js';
import { validateTcpSynArgs, TCP_SYN_DEFAULTS, type TcpSynArgs } from '../../src/scenarios/tcpSyn/options.js';
import { UserError } from '../../src/errors.js';


const NASTY_STRINGS = ['', ' ', '-', '--', 'none,', ',none', 'none,,random', 'NONE', 'random-fully,random-fully', '1-2-3', '40000-', '-40000', '40000--40199', '0x10-0x20', '65535-65536', '1e4-2e4', 'рандом', '\u0000', 'none;rm -rf /', '💥'];
const NASTY_NUMBERS = [0, -1, 1, 2.5, NaN, Infinity, -Infinity, 2 ** 53, 1e-9, 64, 65, 4096, 4097, 86_400, 100_000_000, 100_000_001];

describe('validateTcpSynArgs under random input', () => {
  it('either returns options within every bound or throws a UserError naming a flag — never anything else', () => {
    const next = rng(20261123);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const args: TcpSynArgs = { ...TCP_SYN_DEFAULTS };
      const numericKeys = ['clients', 'workers', 'concurrency', 'connections', 'duration', 'connect-timeout', 'server-workers', 'port', 'detect-rate'] as const;
      for (const k of numericKeys) if (next() < 0.3) (args as unknown as Record<string, unknown>)[k] = next() < 0.8 ? pick(NASTY_NUMBERS) : pick(NASTY_STRINGS);
      if (next() < 0.3) args.modes = pick(NASTY_STRINGS);
      if (next() < 0.3) args['port-range'] = pick([...NASTY_STRINGS, '40000-40199', '1024-1025', '60000-60001']);
      if (next() < 0.2) args.close = pick(['rst', 'fin', 'RST', '', 'slam']);
      try {
        const o = validateTcpSynArgs(args);
        accepted++;
        expect(o.clients).toBeGreaterThanOrEqual(1);
        expect(o.clients).toBeLessThanOrEqual(64);
        expect(Number.isInteger(o.connections) && o.connections >= 1).toBe(true);
        expect(o.portRange[0]).toBeLessThan(o.portRange[1]);
        expect(o.workers * o.concurrency).toBeLessThanOrEqual(o.portRange[1] - o.portRange[0] + 1);
        expect(o.modes.length).toBeGreaterThan(0);
        expect(new Set(o.modes).size).toBe(o.modes.length);
        expect(o.detectRatePer100k).toBeGreaterThan(0);
      } catch (err) {
        refused++;
        expect(err, `case ${i}: ${JSON.stringify(args)}`).toBeInstanceOf(UserError);
        expect((err as UserError).message).toMatch(/--[a-z-]+/);
        expect((err as UserError).message).not.toContain('\n');
      }
    }
    // Both outcomes must occur, or the generator is not exercising the validator.
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
});
