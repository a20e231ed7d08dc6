import { describe, expect, it } from 'vitest';
import { renderTerminal } from '../../src/report/terminal.js';
import { RESULT_SCHEMA, type ModeResult, type ResultFile } from '../../src/types.js';
import { TCP_SYN_CONFIG } from './fixtures/results.js';
import { fromUname } from './fixtures/distroKernels.js';

function mode(over: Partial<ModeResult> & Pick<ModeResult, 'mode'>): ModeResult {
  return {
    rule: `REPRO-NAT-a1b2c3 -s 10.213.0.0/24 ! -o rpa1b2c3-br -j MASQUERADE`,
    attempts: 60_000,
    succeeded: 60_000,
    failed: 0,
    failures: {},
    durationMs: 30_000,
    connectsPerSecond: 2000,
    latencyMs: { p50: 0.85, p90: 1.2, p99: 4.5, p999: 12.3, max: 15.2 },
    signatures: { '1s': 0, '3s': 0, '7s': 0 },
    slowOutsideBands: 0,
    counters: {
      conntrack: { insert_failed: 0, drop: 0 },
      clients: { TcpExtTCPSynRetrans: 0 },
      server: { TcpExtListenOverflows: 0, TcpExtListenDrops: 0 },
    },
    attribution: { unit: 'lost-syn', lostSyns: 0, conntrackRace: 0, serverOverload: 0, unexplained: 0 },
    verdict: 'not-reproduced',
    reason: 'no race drop in 60000 attempts: a race rate of 5 per 100 000 or more is ruled out at 95 %',
    detectableRatePer100k: 4.99,
    notes: [],
    histogram: '',
    ...over,
  };
}

const NONE = mode({
  mode: 'none',
  attempts: 61_234,
  succeeded: 61_231,
  failed: 3,
  failures: { ETIMEDOUT: 2, ECONNREFUSED: 1 },
  latencyMs: { p50: 0.85, p90: 1.2, p99: 1001.47, p999: 3004.41, max: 7010.8 },
  signatures: { '1s': 12, '3s': 2, '7s': 1 },
  slowOutsideBands: 4,
  counters: {
    conntrack: { insert_failed: 17, drop: 17 },
    clients: { TcpExtTCPSynRetrans: 27 },
    server: { TcpExtListenOverflows: 0, TcpExtListenDrops: 0 },
  },
  attribution: { unit: 'lost-syn', lostSyns: 27, conntrackRace: 17, serverOverload: 0, unexplained: 10 },
  verdict: 'reproduced',
  reason: '17 of 27 lost SYNs are matched by conntrack insert_failed (+17); 10 more lost SYNs are explained by no counter',
  notes: ['4 attempts took >= 200 ms but match no retransmit band (scheduling or load, not a lost SYN)'],
});
const RANDOM = mode({ mode: 'random', counters: { conntrack: { insert_failed: 0, drop: 0 }, clients: {}, server: {} } });
const FULLY = mode({
  mode: 'random-fully',
  attempts: 900,
  succeeded: 900,
  verdict: 'inconclusive',
  reason: 'no race drop in 900 attempts, too few to rule out 5 per 100 000: needs at least 59915',
});

const RESULT: ResultFile = {
  schema: RESULT_SCHEMA,
  scenario: 'tcp-syn',
  runId: 'a1b2c3',
  startedAt: '2024-11-23T16:00:00.000Z',
  finishedAt: '2024-11-23T16:02:00.000Z',
  command: 'repro tcp-syn',
  interrupted: false,
  environment: {
    kernel: '6.18.0-1-amd64',
    kernelVersion: fromUname('6.18.0'),
    os: 'Debian GNU/Linux 13',
    arch: 'x64',
    cpus: 2,
    iptables: { version: '1.8.9', backend: 'nf_tables' },
    conntrackSysctls: { 'net.netfilter.nf_conntrack_max': '262144' },
    conntrackColumns: ['entries', 'clashres', 'insert_failed', 'drop'],
    node: 'v20.19.0',
    harness: { name: 'repro', version: '0.1.0', commit: null },
    backend: 'netns',
    docker: null,
  },
  config: TCP_SYN_CONFIG,
  signatureBands: { description: 'band n (n lost SYNs) covers [T-20 ms, T+300 ms+5% of T]', slowThresholdMs: 200 },
  modes: [NONE, RANDOM, FULLY],
  verdict: 'reproduced',
  summary: 'reproduced with MASQUERADE (no flag)',
};

const out = renderTerminal(RESULT, '/tmp/repro/a1b2c3/result.json');
const lines = out.split('\n');

/** The table: from its header line (modes side by side) to the blank line after it. */
function tableLines(text: string): string[] {
  const ls = text.split('\n');
  const start = ls.findIndex((l) => /^\s+none\s+random\s+random-fully$/.test(l));
  expect(start).toBeGreaterThan(0);
  const end = ls.indexOf('', start);
  return ls.slice(start, end);
}
const row = (label: string): string => {
  const found = tableLines(out).find((l) => l.startsWith(label + ' '));
  if (found === undefined) throw new Error(`no row ${label}`);
  return found;
};
const cells = (label: string): string[] => row(label).slice(label.length).trim().split(/\s{2,}/);

describe('renderTerminal', () => {
  it('starts with the environment and the configuration', () => {
    expect(lines[0]).toBe('repro tcp-syn · run a1b2c3 · netns backend · kernel 6.18.0-1-amd64 · iptables 1.8.9 (nf_tables) · 2 CPUs');
    expect(lines[1]).toBe('4 clients x 2 workers x 16 in flight · ports 40000-40199 · close rst · connect timeout 8000 ms');
  });

  it('puts the modes side by side, in run order', () => {
    const t = tableLines(out);
    expect(t[0]).toMatch(/^\s+none\s+random\s+random-fully$/);
    expect(t[1]).toMatch(/^[─ ]+$/);
    expect(cells('attempts')).toEqual(['61,234', '60,000', '900']);
    expect(cells('verdict')).toEqual(['REPRODUCED', 'NOT-REPRODUCED', 'INCONCLUSIVE']);
  });

  it('shows failures with their codes and latencies in suitable units', () => {
    expect(cells('failed')).toEqual(['3 (ETIMEDOUT 2, ECONNREFUSED 1)', '0', '0']);
    expect(cells('connect p50')).toEqual(['0.85 ms', '0.85 ms', '0.85 ms']);
    expect(cells('connect p99')).toEqual(['1.00 s', '4.50 ms', '4.50 ms']);
    expect(cells('connect p99.9')).toEqual(['3.00 s', '12 ms', '12 ms']);
    expect(cells('connect max')).toEqual(['7.01 s', '15 ms', '15 ms']);
    expect(cells('connects/s')).toEqual(['2,000', '2,000', '2,000']);
  });

  it('has one row per retransmit band, and the slow attempts outside them', () => {
    expect(cells('stalls ~1s')).toEqual(['12', '0', '0']);
    expect(cells('stalls ~3s')).toEqual(['2', '0', '0']);
    expect(cells('stalls ~7s')).toEqual(['1', '0', '0']);
    expect(cells('slow, no band')).toEqual(['4', '0', '0']);
    expect(lines.filter((l) => l.startsWith('stalls ~'))).toHaveLength(3);
  });

  it('shows counter deltas with a sign, and - where a counter was not read', () => {
    expect(cells('conntrack insert_failed')).toEqual(['+17', '0', '0']);
    expect(cells('clients SynRetrans')).toEqual(['+27', '-', '0']);
    expect(cells('server ListenOverflows')).toEqual(['0', '-', '0']);
  });

  it('shows the attribution of lost SYNs', () => {
    expect(cells('lost SYNs: race')).toEqual(['17', '0', '0']);
    expect(cells('lost SYNs: server')).toEqual(['0', '0', '0']);
    expect(cells('lost SYNs: unexplained')).toEqual(['10', '0', '0']);
  });

  it('aligns the table: every line has the same width and each mode column ends where its header ends', () => {
    const t = tableLines(out);
    const width = t[0]!.length;
    for (const l of t) expect(l.length, l).toBe(width);
    const header = t[0]!;
    // Right edge of each mode name in the header ('random' first occurs standalone, before 'random-fully').
    const rightEdges = [header.indexOf('none') + 'none'.length, header.indexOf('random ') + 'random'.length, header.length];
    expect(rightEdges[0]).toBeLessThan(rightEdges[1]!);
    for (const l of t.slice(2)) {
      for (const edge of rightEdges) {
        expect(l[edge - 1], `${l} @${edge}`).not.toBe(' ');
        if (edge < l.length) expect(l[edge], `${l} @${edge}`).toBe(' ');
      }
    }
  });

  it('prints the bands description, each verdict reason and its notes', () => {
    expect(out).toContain('bands: band n (n lost SYNs) covers [T-20 ms, T+300 ms+5% of T]');
    expect(lines).toContain(`none: reproduced — ${NONE.reason}`);
    expect(lines).toContain(`random: not-reproduced — ${RANDOM.reason}`);
    expect(lines).toContain(`random-fully: inconclusive — ${FULLY.reason}`);
    const i = lines.indexOf(`none: reproduced — ${NONE.reason}`);
    expect(lines[i + 1]).toBe(`  note: ${NONE.notes[0]}`);
    expect(lines[i + 2]).toBe(`random: not-reproduced — ${RANDOM.reason}`);
  });

  it('ends with the overall verdict and the result path', () => {
    expect(lines.slice(-2)).toEqual(['verdict: REPRODUCED', 'result: /tmp/repro/a1b2c3/result.json']);
  });

  it('marks an interrupted run and omits the path when none is given', () => {
    const r = renderTerminal({ ...RESULT, interrupted: true, verdict: 'invalid' });
    expect(r.split('\n').at(-1)).toBe('verdict: INVALID (interrupted: partial result)');
    expect(r).not.toContain('result:');
  });

  it('names the load path of each mode when the result has one (native engine or a fallback), and no row otherwise', () => {
    expect(out).not.toContain('load path');
    const r = renderTerminal({ ...RESULT, modes: [{ ...NONE, connectPath: 'native' }, { ...FULLY, connectPath: 'handle' }] });
    expect(r).toMatch(/^load path +native +handle$/m);
  });

  it('renders a single mode', () => {
    const r = renderTerminal({ ...RESULT, modes: [FULLY] });
    const header = r.split('\n')[3]!;
    expect(header.trim()).toBe('random-fully');
    expect(r).not.toContain('none:');
  });
});
