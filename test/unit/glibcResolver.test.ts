import { describe, expect, it } from 'vitest';
import {
  afterTimeout, GLIBC_ATTEMPTS, GLIBC_TIMEOUT_MS, NSSWITCH_DNS_ONLY, renderResolvConf, stallSignatureMs, tryDeadlineMs, tryTimeoutMs,
} from '../../src/agents/dns/glibcResolver.js';

describe("glibc's resolver timing", () => {
  it('has the defaults of resolv.conf(5): timeout 5 s, 2 attempts', () => {
    expect(GLIBC_TIMEOUT_MS).toBe(5000);
    expect(GLIBC_ATTEMPTS).toBe(2);
  });

  it("waits retrans << ns per try, split over the nameservers from the second on, at least 1 s (res_send.c)", () => {
    expect(tryTimeoutMs(5000)).toBe(5000);
    expect(tryTimeoutMs(5000, 1, 2)).toBe(5000);
    expect(tryTimeoutMs(5000, 2, 3)).toBeCloseTo(20000 / 3);
    expect(tryTimeoutMs(500)).toBe(1000);
  });

  it('gives up each try at k x timeout and fails after the last attempt', () => {
    expect(tryDeadlineMs(0)).toBe(5000);
    expect(tryDeadlineMs(1)).toBe(10000);
    expect(tryDeadlineMs(2, 1000)).toBe(3000);
    expect(afterTimeout(0)).toBe('retry');
    expect(afterTimeout(1)).toBe('fail');
    expect(afterTimeout(0, 1)).toBe('fail');
    expect(afterTimeout(3, 5)).toBe('retry');
  });

  it('puts a lookup that lost k tries at k x timeout: 5 s, 10 s', () => {
    expect([1, 2].map((k) => stallSignatureMs(k))).toEqual([5000, 10000]);
    expect(stallSignatureMs(3, 2000)).toBe(6000);
  });
});

describe('resolv.conf', () => {
  it('names one nameserver, the timing, and the mitigation options', () => {
    const text = renderResolvConf({ nameserver: '10.213.1.250', timeoutMs: 5000, attempts: 2, options: ['single-request-reopen'] });
    const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toEqual(['nameserver 10.213.1.250', 'options timeout:5 attempts:2 single-request-reopen']);
    expect(text).not.toMatch(/^search/m);
  });

  it('has no option line beyond the timing without a mitigation', () => {
    const text = renderResolvConf({ nameserver: '10.0.0.2', timeoutMs: 3000, attempts: 4, options: [] });
    expect(text).toContain('options timeout:3 attempts:4\n');
  });

  it('resolves hosts through DNS only in the client namespaces', () => {
    expect(NSSWITCH_DNS_ONLY.trim()).toBe('hosts: dns');
  });
});
