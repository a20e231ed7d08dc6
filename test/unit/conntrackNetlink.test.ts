import { describe, expect, it } from 'vitest';
import {
  ConntrackStatsError,
  conntrackDelta,
  conntrackStatsChoice,
  parseConntrackS,
  parseConntrackStat,
  pickConntrackStat,
  withEntries,
  type ConntrackStat,
  type ConntrackStatsSource,
} from '../../src/host/conntrackStat.js';
import { conntrackStatsCheck } from '../../src/commands/doctor.js';

// `conntrack -S` as conntrack-tools prints it: printf("cpu=%-4u\t", res_id), then "%s=%u " for each attribute the
// kernel sent, named by attr2name in src/conntrack.c (nfct_stats_cb): found, invalid, insert, insert_failed, drop,
// early_drop, error, search_restart, clash_resolve, chaintoolong (kernel 5.15+, ctnetlink_ct_stat_cpu_fill_info in
// net/netfilter/nf_conntrack_netlink.c), a trailing space on every line.
const NETLINK_6X = [
  'cpu=0   \tfound=3 invalid=16 insert=0 insert_failed=5 drop=5 early_drop=0 error=1 search_restart=2 clash_resolve=3 chaintoolong=0 ',
  'cpu=1   \tfound=0 invalid=10 insert=0 insert_failed=4294967294 drop=4294967294 early_drop=0 error=0 search_restart=7 clash_resolve=1 chaintoolong=0 ',
  '',
].join('\n');

// The same counters a moment later, as procfs prints them (ct_cpu_seq_show in nf_conntrack_standalone.c): clash_resolve
// under clashres, chaintoolong under chainlength, error under icmp_error.
const PROCFS_6X_LATER = [
  'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart',
  '00000030  00000004 00000003 00000000 00000012 00000000 00000000 00000000 00000000 00000007 00000008 00000000 00000001  00000000 00000000 00000000 00000002',
  '00000030  00000001 00000000 00000000 0000000a 00000000 00000000 00000000 00000000 00000001 00000003 00000000 00000000  00000000 00000000 00000000 00000007',
  '',
].join('\n');

// A kernel between 5.10 and 5.15: clash_resolve but no chaintoolong yet.
const NETLINK_5_10 = 'cpu=0   \tfound=1 invalid=2 insert=0 insert_failed=3 drop=3 early_drop=0 error=0 search_restart=4 clash_resolve=5 \n';

// Older conntrack-tools on a newer kernel print attributes they cannot name as unknownN.
const NETLINK_UNKNOWN = 'cpu=0   \tfound=1 insert_failed=2 drop=2 unknown1=9 \n';

describe('parseConntrackS', () => {
  it('keys every row by the procfs names, in CPU order', () => {
    const s = parseConntrackS(NETLINK_6X);
    expect(s.columns).toEqual(['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'icmp_error', 'search_restart', 'clashres', 'chainlength']);
    expect(s.rows).toHaveLength(2);
    expect(s.rows[0]).toEqual({ found: 3, invalid: 16, insert: 0, insert_failed: 5, drop: 5, early_drop: 0, icmp_error: 1, search_restart: 2, clashres: 3, chainlength: 0 });
    expect(s.rows[1]).toMatchObject({ insert_failed: 0xfffffffe, clashres: 1, search_restart: 7 });
  });

  it('orders rows by cpu number whatever order the lines came in', () => {
    const reversed = NETLINK_6X.split('\n').filter(Boolean).reverse().join('\n');
    expect(parseConntrackS(reversed)).toEqual(parseConntrackS(NETLINK_6X));
  });

  it('reads older kernels and names it cannot map as they are', () => {
    expect(parseConntrackS(NETLINK_5_10).columns).toEqual(['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'icmp_error', 'search_restart', 'clashres']);
    expect(parseConntrackS(NETLINK_UNKNOWN).rows[0]).toEqual({ found: 1, insert_failed: 2, drop: 2, unknown1: 9 });
  });

  it('refuses output that is not per-CPU stats', () => {
    expect(() => parseConntrackS('')).toThrow(/empty/);
    expect(() => parseConntrackS('conntrack v1.4.7 (conntrack-tools): Operation not permitted\n')).toThrow(/unexpected line/);
    expect(() => parseConntrackS('cpu=0 found=x\n')).toThrow(/"found=x" is not name=number/);
    expect(() => parseConntrackS('cpu=0 found=1\ncpu=0 found=2\n')).toThrow(/cpu 0 listed twice/);
    expect(() => parseConntrackS('cpu=0 found=1 drop=2\ncpu=1 found=1\n')).toThrow(/row 2 lacks drop/);
  });
});

describe('one set of names from both sources', () => {
  it('gives the same delta whichever source each side came from', () => {
    const before = withEntries(parseConntrackS(NETLINK_6X), 42);
    const after = parseConntrackStat(PROCFS_6X_LATER);
    const d = conntrackDelta(before, after);
    // Only the columns both sources have.
    expect(Object.keys(d).sort()).toEqual(['chainlength', 'clashres', 'drop', 'early_drop', 'entries', 'found', 'icmp_error', 'insert', 'insert_failed', 'invalid', 'search_restart']);
    // The same figures as the procfs-only delta in conntrackStat.test.ts: u32 wrap per CPU, entries a gauge.
    expect(d).toMatchObject({ entries: 6, clashres: 1, invalid: 2, insert_failed: 5, drop: 8, icmp_error: 0, search_restart: 0 });
  });

  it('withEntries puts the count first, on every row', () => {
    const s = withEntries(parseConntrackS(NETLINK_6X), 7);
    expect(s.columns[0]).toBe('entries');
    expect(s.rows.map((r) => r['entries'])).toEqual([7, 7]);
    expect(withEntries(s, 9).columns.filter((c) => c === 'entries')).toHaveLength(1);
  });
});

describe('REPRO_CONNTRACK_STATS', () => {
  it('defaults to auto and accepts the three names', () => {
    expect(conntrackStatsChoice({})).toBe('auto');
    expect(conntrackStatsChoice({ REPRO_CONNTRACK_STATS: '' })).toBe('auto');
    expect(conntrackStatsChoice({ REPRO_CONNTRACK_STATS: 'procfs' })).toBe('procfs');
    expect(conntrackStatsChoice({ REPRO_CONNTRACK_STATS: 'netlink' })).toBe('netlink');
  });

  it('refuses anything else in one line', () => {
    expect(() => conntrackStatsChoice({ REPRO_CONNTRACK_STATS: 'proc' })).toThrow(/^REPRO_CONNTRACK_STATS=proc: expected procfs, netlink or auto$/);
  });
});

describe('pickConntrackStat', () => {
  const stat: ConntrackStat = { columns: ['insert_failed'], rows: [{ insert_failed: 1 }] };
  const reader = (works: Partial<Record<ConntrackStatsSource, boolean>>) => {
    const asked: ConntrackStatsSource[] = [];
    const read = async (source: ConntrackStatsSource): Promise<ConntrackStat> => {
      asked.push(source);
      if (works[source]) return stat;
      throw new ConntrackStatsError('ns', { [source]: `${source} broken` });
    };
    return { asked, read };
  };

  it('auto takes procfs when it works and never asks netlink', async () => {
    const r = reader({ procfs: true, netlink: true });
    expect(await pickConntrackStat('ns', 'auto', r.read)).toEqual({ stat, source: 'procfs' });
    expect(r.asked).toEqual(['procfs']);
  });

  it('auto falls back to netlink and says why', async () => {
    const r = reader({ netlink: true });
    expect(await pickConntrackStat('ns', 'auto', r.read)).toEqual({ stat, source: 'netlink', procfsError: 'procfs broken' });
  });

  it('auto fails with both reasons when neither works', async () => {
    const err = await pickConntrackStat('ns', 'auto', reader({}).read).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConntrackStatsError);
    expect((err as ConntrackStatsError).reasons).toEqual({ procfs: 'procfs broken', netlink: 'netlink broken' });
    expect((err as Error).message).toBe('conntrack stats of ns: procfs: procfs broken; netlink: netlink broken');
  });

  it('a forced source is the only one asked, and its failure is not hidden by the other', async () => {
    const r = reader({ procfs: true });
    await expect(pickConntrackStat('ns', 'netlink', r.read)).rejects.toThrow(/^conntrack stats of ns: netlink: netlink broken$/);
    expect(r.asked).toEqual(['netlink']);
    const p = reader({ procfs: true });
    expect((await pickConntrackStat('ns', 'procfs', p.read)).source).toBe('procfs');
  });
});

describe('doctor: conntrack stats', () => {
  const cols = ['entries', 'insert_failed', 'drop'];
  it('passes when either source works, and lists both', () => {
    const onlyNetlink = conntrackStatsCheck({ ok: false, reason: '/proc/net/stat/nf_conntrack absent' }, { ok: true, columns: cols });
    expect(onlyNetlink.ok).toBe(true);
    expect(onlyNetlink.detail).toBe('procfs: /proc/net/stat/nf_conntrack absent\nnetlink (conntrack -S): entries insert_failed drop');
    expect(conntrackStatsCheck({ ok: true, columns: cols }, { ok: false, reason: 'conntrack: command not found' }).ok).toBe(true);
  });

  it('fails when neither works, or neither has insert_failed', () => {
    expect(conntrackStatsCheck({ ok: false, reason: 'absent' }, { ok: false, reason: 'command not found' }).ok).toBe(false);
    const noCol = conntrackStatsCheck({ ok: true, columns: ['entries', 'drop'] }, { ok: false, reason: 'x' });
    expect(noCol.ok).toBe(false);
    expect(noCol.detail).toMatch(/^procfs: no insert_failed column; entries drop/);
  });

  it('does not fail before nf_conntrack is loaded', () => {
    const reason = 'nf_conntrack is not loaded (no NAT or stateful rule uses it yet)';
    expect(conntrackStatsCheck({ ok: false, reason }, { ok: false, reason }).ok).toBe(true);
  });
});
