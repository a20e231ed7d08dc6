import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dnsperfQueryFile, parseBashTimes, parseDnsperfOutput } from '../../src/bench/dnsperfOutput.js';

/** A real run: dnsperf 2.10.0 (Debian) against the harness's DNS server agent, then bash's `times`. */
const CAPTURED = readFileSync(new URL('./fixtures/dnsperf-2.10.0.txt', import.meta.url), 'utf8');

describe('dnsperf as the bench baseline', () => {
  it('reads the statistics block of a captured run', () => {
    expect(parseDnsperfOutput(CAPTURED)).toEqual({
      sent: 40000,
      completed: 40000,
      lost: 0,
      responseCodes: { NOERROR: 40000 },
      runTimeSeconds: 1.596532,
      queriesPerSecond: 25054.305207,
      averageLatencySeconds: 0.00237,
    });
  });

  it('reads several response codes and lost queries', () => {
    const text = CAPTURED.replace('Queries lost:         0 (0.00%)', 'Queries lost:         12 (0.03%)').replace(
      'NOERROR 40000 (100.00%)',
      'NOERROR 39000 (97.50%), SERVFAIL 10 (0.02%), NXDOMAIN 978 (2.44%)',
    );
    const f = parseDnsperfOutput(text);
    expect(f.lost).toBe(12);
    expect(f.responseCodes).toEqual({ NOERROR: 39000, SERVFAIL: 10, NXDOMAIN: 978 });
  });

  it('fails with what dnsperf said when there is no statistics block', () => {
    expect(() => parseDnsperfOutput('DNS Performance Testing Tool\nError: socket: Permission denied\n')).toThrow(/no statistics.*Permission denied/);
    expect(() => parseDnsperfOutput(CAPTURED.replace(/ {2}Run time.*\n/, ''))).toThrow(/Run time/);
  });

  it("takes the children's CPU from bash's times (the last two lines)", () => {
    expect(parseBashTimes(CAPTURED)).toBeCloseTo(0.141 + 0.696, 6);
    expect(parseBashTimes('0m0.000s 0m0.001s\n1m2.500s 0m0.250s\n')).toBeCloseTo(62.75, 6);
    expect(() => parseBashTimes('nothing')).toThrow(/times/);
  });

  it("writes a query file with each lookup's A and AAAA", () => {
    const expected = 'h7.repro.test A\nh7.repro.test AAAA\nh8.repro.test A\nh8.repro.test AAAA\nh9.repro.test A\nh9.repro.test AAAA\n';
    expect([...dnsperfQueryFile('Repro.Test.', 7, 3)].join('')).toBe(expected);
    // In chunks of at most `chunk` lookups, the last one shorter.
    const chunks = [...dnsperfQueryFile('repro.test', 7, 3, 2)];
    expect(chunks.map((c) => c.split('\n').length - 1)).toEqual([4, 2]);
    expect(chunks.join('')).toBe(expected);
  });
});
