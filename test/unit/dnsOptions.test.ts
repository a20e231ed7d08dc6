import { describe, expect, it } from 'vitest';
import { clientPhases, DEFAULT_DNS_MODES, DNS_DEFAULTS, validateDnsArgs, type DnsArgs } from '../../src/scenarios/dns/options.js';
import { dnsEntryLine } from '../../src/analysis/answers.js';
import { makeMode } from './fixtures/results.js';
import { affectsOnlyLibc, parseDnsModes, planDnsMode } from '../../src/scenarios/dns/modes.js';
import { UserError } from '../../src/errors.js';

const args = (over: Partial<DnsArgs> = {}): DnsArgs => ({ ...DNS_DEFAULTS, ...over });

function refuses(over: Partial<DnsArgs>, message: RegExp): void {
  let err: unknown;
  try {
    validateDnsArgs(args(over));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  expect((err as UserError).exitCode).toBe(2);
  expect((err as Error).message).toMatch(message);
  expect((err as Error).message).not.toContain('\n');
}

describe('repro dns options', () => {
  it('defaults to every mode for libc, the NAT paths for raw and burst', () => {
    expect(validateDnsArgs(args()).modes).toEqual(['none', 'random', 'random-fully', 'single-request', 'single-request-reopen', 'use-vc', 'notrack']);
    expect(validateDnsArgs(args({ client: 'raw' })).modes).toEqual(DEFAULT_DNS_MODES.raw);
    const o = validateDnsArgs(args({ client: 'burst', modes: 'none,notrack', vip: 'off', zone: 'Svc.Cluster.Local.' }));
    expect(o.modes).toEqual(['none', 'notrack']);
    expect(o.vip).toBe(false);
    expect(o.zone).toBe('svc.cluster.local');
    expect(o.timeoutMs).toBe(5000);
    expect(o.attempts).toBe(2);
  });

  it('refuses an unknown mitigation, a repeated mode, an empty list', () => {
    refuses({ modes: 'none,single-request-open' }, /unknown mode or mitigation "single-request-open"/);
    refuses({ modes: 'notrack,notrack' }, /listed twice/);
    refuses({ modes: ' , ' }, /at least one/);
  });

  it('refuses a zone that is not a name', () => {
    refuses({ zone: 'bad zone' }, /--zone "bad zone" is not a DNS name/);
    refuses({ zone: '-x.test' }, /not a DNS name/);
    refuses({ zone: '' }, /not a DNS name/);
  });

  it('refuses zero or too many backends, and other bad numbers', () => {
    refuses({ backends: 0 }, /--backends must be a whole number from 1 to 26, got 0/);
    refuses({ backends: 27 }, /--backends/);
    refuses({ queries: 0 }, /--queries/);
    refuses({ concurrency: 1.5 }, /--concurrency/);
    refuses({ 'detect-rate': 0 }, /--detect-rate/);
    refuses({ client: 'dig' }, /--client must be one of both, raw, libc, burst/);
    refuses({ vip: 'maybe' }, /--vip must be on or off/);
  });

  it('refuses a burst that would reuse a source port within a mode, or has one worker', () => {
    refuses({ client: 'burst', queries: 10_000_000, clients: 1, workers: 2 }, /source ports/);
    refuses({ client: 'burst', workers: 1 }, /--workers 2 or more/);
  });
});

describe('dns modes', () => {
  it('runs resolv.conf mitigations under MASQUERADE without a flag, notrack without NAT and without the VIP', () => {
    expect(planDnsMode('random-fully', true)).toEqual({ mode: 'random-fully', masquerade: 'random-fully', resolverOptions: [], notrack: false, viaVip: true });
    expect(planDnsMode('use-vc', true)).toEqual({ mode: 'use-vc', masquerade: 'none', resolverOptions: ['use-vc'], notrack: false, viaVip: true });
    expect(planDnsMode('notrack', true)).toEqual({ mode: 'notrack', masquerade: null, resolverOptions: [], notrack: true, viaVip: false });
    expect(planDnsMode('none', false).viaVip).toBe(false);
  });

  it('knows which modes only glibc reads', () => {
    expect(['single-request', 'single-request-reopen', 'use-vc'].every((m) => affectsOnlyLibc(m as never))).toBe(true);
    expect(['none', 'random', 'random-fully', 'notrack'].some((m) => affectsOnlyLibc(m as never))).toBe(false);
    expect(parseDnsModes('use-vc, none')).toEqual(['use-vc', 'none']);
  });
});

describe('repro dns --client both (the default)', () => {
  it('runs the provoking burst client first on the modes that change the NAT path, then glibc on every mode', () => {
    const o = validateDnsArgs(args());
    expect(o.client).toBe('both');
    expect(clientPhases(o)).toEqual([
      { client: 'burst', modes: ['none', 'random', 'random-fully', 'notrack'] },
      { client: 'libc', modes: ['none', 'random', 'random-fully', 'single-request', 'single-request-reopen', 'use-vc', 'notrack'] },
    ]);
    // Resolver options alone: nothing for the burst client to compare.
    expect(clientPhases(validateDnsArgs(args({ modes: 'use-vc' })))).toEqual([{ client: 'libc', modes: ['use-vc'] }]);
    expect(clientPhases(validateDnsArgs(args({ client: 'raw' })))).toEqual([{ client: 'raw', modes: DEFAULT_DNS_MODES.raw }]);
    refuses({ workers: 1 }, /--client both needs --workers 2 or more/);
  });

  it('says per entry how often the path raced: resolved by the kernel (clashres) plus dropped (insert_failed)', () => {
    const m = { ...makeMode({ mode: 'none', attempts: 12_000, race: 3 }), load: 'burst' as const };
    m.counters = { ...m.counters, conntrack: { insert_failed: 3, drop: 3, clashres: 40 } };
    expect(dnsEntryLine(m)).toBe('MASQUERADE without a flag, burst client: raced 43 times: 40 resolved by the kernel, 3 dropped (insert_failed); 3 queries lost to it in 12,000 queries (reproduced)');
  });
});
