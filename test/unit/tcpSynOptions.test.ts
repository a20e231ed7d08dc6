import { attemptsToRuleOut } from '../../src/analysis/verdict.js';
import { describe, expect, it } from 'vitest';
import { parseModes, parsePortRange, TCP_SYN_DEFAULTS, validateTcpSynArgs, type TcpSynArgs } from '../../src/scenarios/tcpSyn/options.js';
import { UserError } from '../../src/errors.js';

function args(over: Partial<Record<keyof TcpSynArgs, unknown>> = {}): TcpSynArgs {
  return { ...TCP_SYN_DEFAULTS, ...over } as TcpSynArgs;
}

/** Validation must throw a UserError whose message names the flag. */
function expectUserError(over: Partial<Record<keyof TcpSynArgs, unknown>>, flag: string): UserError {
  let caught: unknown;
  try {
    validateTcpSynArgs(args(over));
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${JSON.stringify(over)} to be refused`).toBeInstanceOf(UserError);
  const e = caught as UserError;
  expect(e.exitCode).toBe(2);
  expect(e.message).toContain(flag);
  return e;
}

describe('validateTcpSynArgs', () => {
  it('accepts the defaults', () => {
    expect(validateTcpSynArgs(args())).toEqual({
      modes: ['none', 'random', 'random-fully'],
      clients: 4,
      workers: 2,
      concurrency: 16,
      connections: 150_000,
      durationSec: 30,
      portRange: [40000, 40199],
      close: 'rst',
      connectTimeoutMs: 8000,
      serverWorkers: 2,
      serverPort: 8080,
      detectRatePer100k: 5,
      protocol: 'tcp',
      keepalive: false,
      load: 'both',
      burstPhase: { clients: 2, connections: 10_000, detectRatePer100k: 50 },
      burstPorts: [10_000, 32_767],
      capture: true,
    });
  });

  it('--load both (the default): the steady phase is 30 000 connects ruling out 10 per 100 000, the burst phase races two clients 10 000 times', () => {
    const o = validateTcpSynArgs({ ...args(), clients: undefined, connections: undefined, 'detect-rate': undefined, load: undefined });
    expect(o).toMatchObject({ load: 'both', clients: 4, connections: 30_000, detectRatePer100k: 10, burstPhase: { clients: 2, connections: 10_000, detectRatePer100k: 50 } });
    // 0 in 30 000 is enough to rule out 10 per 100 000 (one-sided 95 %): -ln(0.05) / 10 x 100 000 = 29 958.
    expect(attemptsToRuleOut(o.detectRatePer100k)).toBeLessThanOrEqual(o.connections);
    const steady = validateTcpSynArgs({ ...args(), clients: undefined, connections: undefined, 'detect-rate': undefined, load: 'steady' });
    expect(steady).toMatchObject({ load: 'steady', clients: 4, connections: 150_000, detectRatePer100k: 5 });
    expect(steady.burstPhase).toBeUndefined();
    expect(() => validateTcpSynArgs({ ...args(), clients: 1 })).toThrow(/--load both races 2 clients/);
    expect(() => validateTcpSynArgs({ ...args(), 'port-range': '20000-20199' })).toThrow(/default --load both runs a burst phase/);
    // The burst phase makes bare connects whatever --protocol says; --load burst alone refuses http.
    expect(validateTcpSynArgs({ ...args(), protocol: 'http' })).toMatchObject({ load: 'both', protocol: 'http' });
  });

  it('--load burst: two clients, 10 000 attempts, burst ports below the clients\' range, a detect rate for provoked races', () => {
    const o = validateTcpSynArgs({ ...args(), clients: undefined, connections: undefined, 'detect-rate': undefined, load: 'burst' });
    expect(o).toMatchObject({ load: 'burst', clients: 2, connections: 10_000, burstPorts: [10_000, 32_767], detectRatePer100k: 50 });
    expect(() => validateTcpSynArgs({ ...args(), load: 'burst', 'burst-ports': '40100-45000' })).toThrow(/overlap the clients' --port-range 40000-40199/);
    expect(() => validateTcpSynArgs({ ...args(), load: 'steady', 'burst-ports': '10000-20000' })).toThrow(/--burst-ports needs a burst phase/);
    expect(() => validateTcpSynArgs({ ...args(), load: 'burst', protocol: 'http' })).toThrow(/takes no --protocol http/);
    expect(() => validateTcpSynArgs({ ...args(), load: 'bursty' })).toThrow(/--load must be both, burst or steady/);
  });

  it('takes --capture on|off, on when absent', () => {
    expect(validateTcpSynArgs(args({ capture: 'off' }))).toMatchObject({ capture: false });
    expect(validateTcpSynArgs(args({ capture: undefined }))).toMatchObject({ capture: true });
    expectUserError({ capture: 'maybe' }, '--capture');
  });

  it('takes --protocol tcp|http and --keepalive only with http; callers without them get tcp', () => {
    expect(validateTcpSynArgs(args({ protocol: 'http' }))).toMatchObject({ protocol: 'http', keepalive: false });
    expect(validateTcpSynArgs(args({ protocol: 'http', keepalive: true }))).toMatchObject({ protocol: 'http', keepalive: true });
    expect(validateTcpSynArgs(args({ protocol: undefined, keepalive: undefined }))).toMatchObject({ protocol: 'tcp', keepalive: false });
    expectUserError({ protocol: 'udp' }, '--protocol');
    expectUserError({ keepalive: true }, '--keepalive needs --protocol http');
  });

  it('defaults the port range by close mode: 40000-40199 for rst, 32768-60999 for fin', () => {
    expect(validateTcpSynArgs(args({ 'port-range': undefined })).portRange).toEqual([40000, 40199]);
    expect(validateTcpSynArgs(args({ close: 'fin', 'port-range': undefined })).portRange).toEqual([32768, 60999]);
    // 2 workers x 200 in flight does not fit the rst default (200 ports) but fits the fin one.
    expectUserError({ concurrency: 200 }, '--port-range 40000-40199');
    expect(validateTcpSynArgs(args({ close: 'fin', concurrency: 200 })).concurrency).toBe(200);
  });

  it('accepts other valid values', () => {
    const o = validateTcpSynArgs(
      args({ modes: ' random-fully , none ', close: 'fin', 'port-range': '50000 - 50099', workers: 4, concurrency: 25, 'detect-rate': 0.5, clients: 64 }),
    );
    expect(o.modes).toEqual(['random-fully', 'none']);
    expect(o.close).toBe('fin');
    expect(o.portRange).toEqual([50000, 50099]);
    expect(o.detectRatePer100k).toBe(0.5);
    expect(o.clients).toBe(64);
  });

  it('refuses an unknown mode', () => {
    expect(expectUserError({ modes: 'none,fully' }, '--modes').message).toContain('unknown mode "fully"');
  });

  it('refuses a duplicate mode', () => {
    expect(expectUserError({ modes: 'random,none,random' }, '--modes').message).toContain('"random" is listed twice');
  });

  it('refuses an empty mode list', () => {
    expectUserError({ modes: ' , ' }, '--modes');
  });

  it('refuses a malformed port range', () => {
    for (const bad of ['40000', '40000:40199', 'a-b', '40000-', '-40199', '40000-40199-40300', '123456-123457']) {
      expect(expectUserError({ 'port-range': bad }, '--port-range').message).toContain('must look like LO-HI');
    }
  });

  it('refuses LO >= HI and ports outside 1024..65535', () => {
    // The workers x concurrency check also names --port-range: make sure it is the range check that refuses.
    for (const bad of ['40199-40000', '40000-40000', '80-2000', '1023-2000', '60000-65536']) {
      expect(expectUserError({ 'port-range': bad, workers: 1, concurrency: 1 }, '--port-range').message).toContain('1024 <= LO < HI <= 65535');
    }
    expect(validateTcpSynArgs(args({ 'port-range': '1024-65535', load: 'steady' })).portRange).toEqual([1024, 65535]);
  });

  it('refuses numbers out of range', () => {
    const cases: [keyof TcpSynArgs, number][] = [
      ['clients', 0],
      ['clients', 65],
      ['workers', 0],
      ['workers', 33],
      ['concurrency', 0],
      ['concurrency', 4097],
      ['connections', 0],
      ['duration', 0],
      ['duration', 86_401],
      ['connect-timeout', 99],
      ['connect-timeout', 300_001],
      ['server-workers', 0],
      ['server-workers', 65],
      ['port', 0],
      ['port', 65536],
    ];
    for (const [flag, v] of cases) {
      // Durations quote what was typed ("0"); plain numbers say what they got.
      expect(expectUserError({ [flag]: v }, `--${flag} `).message).toMatch(new RegExp(`got ${v}$|^--${flag} "${v}": `));
    }
  });

  it('refuses non-integers and non-numbers', () => {
    expectUserError({ clients: 2.5 }, '--clients');
    expectUserError({ workers: Number.NaN }, '--workers');
    expectUserError({ concurrency: Infinity }, '--concurrency');
    expectUserError({ duration: '30x' }, '--duration');
    expectUserError({ duration: '1.5s' }, '--duration');
    expectUserError({ 'connect-timeout': 1500.5 }, '--connect-timeout');
  });

  it('refuses more connects in flight than the port range has ports', () => {
    // 200 ports in 40000-40199; 2 workers x 101 = 202.
    const e = expectUserError({ concurrency: 101 }, '--workers');
    expect(e.message).toContain('--concurrency');
    expect(e.message).toContain('202');
    expect(e.message).toContain('200 ports');
    // 2 x 100 = 200 fits exactly.
    expect(validateTcpSynArgs(args({ concurrency: 100 })).concurrency).toBe(100);
  });

  it('refuses a close mode other than rst or fin', () => {
    expect(expectUserError({ close: 'reset' }, '--close').message).toContain('"reset"');
    expectUserError({ close: 'RST' }, '--close');
  });

  it('refuses a detect rate at or below 0, or not a number', () => {
    for (const bad of [0, -1, Number.NaN, 100_001, '5']) expectUserError({ 'detect-rate': bad }, '--detect-rate');
  });
});

describe('parseModes / parsePortRange', () => {
  it('parse directly', () => {
    expect(parseModes('none')).toEqual(['none']);
    expect(parsePortRange('40000-40003')).toEqual([40000, 40003]);
    expect(() => parsePortRange('40003-40000')).toThrow(UserError);
  });
});
