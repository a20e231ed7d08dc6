import { describe, expect, it } from 'vitest';
import { hostWarnings, typedHostWarnings } from '../../src/analysis/hostWarnings.js';
import type { EnvironmentInfo } from '../../src/types.js';
import { fromUname } from './fixtures/distroKernels.js';

const KERNEL_6_COLUMNS = 'entries clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error expect_new expect_create expect_delete search_restart'.split(' ');
const KERNEL_4_COLUMNS = 'entries searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error expect_new expect_create expect_delete search_restart'.split(' ');

function env(over: Partial<EnvironmentInfo>): EnvironmentInfo {
  return {
    kernel: '6.18.44', kernelVersion: fromUname('6.18.44'), os: 'Linux', arch: 'x64', cpus: 2,
    iptables: { version: '1.8.9', backend: 'nf_tables' },
    conntrackSysctls: { 'net.netfilter.nf_conntrack_count': '12', 'net.netfilter.nf_conntrack_max': '262144' },
    conntrackColumns: KERNEL_6_COLUMNS, node: 'v20.20.2', harness: { name: 'repro', version: '0.1.0', commit: null },
    backend: 'netns', docker: null, ...over,
  };
}

describe('hostWarnings', () => {
  it('is silent on a modern nf_tables host with room in the table', () => {
    expect(hostWarnings(env({}))).toEqual([]);
  });
  it('names a legacy iptables backend', () => {
    const w = hostWarnings(env({ iptables: { version: '1.8.7', backend: 'legacy' } }));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/legacy backend, not nf_tables/);
  });
  it('says when clashres is missing (older kernels count resolved clashes in insert_failed)', () => {
    expect(hostWarnings(env({ conntrackColumns: KERNEL_4_COLUMNS }))).toEqual([
      'no clashres column (kernels before 5.10): insert_failed also counts clashes the kernel resolved, so race drops are read as min(insert_failed, drop)',
    ]);
  });
  it('says when the race counters are missing', () => {
    const noInsertFailed = KERNEL_6_COLUMNS.filter((c) => c !== 'insert_failed');
    expect(hostWarnings(env({ conntrackColumns: noInsertFailed }))[0]).toMatch(/read from drop/);
    const neither = noInsertFailed.filter((c) => c !== 'drop');
    expect(hostWarnings(env({ conntrackColumns: neither }))[0]).toMatch(/neither insert_failed nor drop/);
  });
  it('warns when the conntrack table is over 80 % full', () => {
    const w = hostWarnings(env({ conntrackSysctls: { 'net.netfilter.nf_conntrack_count': '900', 'net.netfilter.nf_conntrack_max': '1000' } }));
    expect(w).toEqual(['the conntrack table is 90 % full (900 of 1000): early drops will look like lost packets']);
  });
});

describe('hostWarnings when the stats could not be read', () => {
  it('says so instead of silently skipping the column checks (a failed read used to look like a quiet host)', () => {
    const w = typedHostWarnings(env({ conntrackColumns: [], conntrackStatsSource: 'none' }));
    expect(w.map((x) => x.id)).toEqual(['conntrack-stats-unreadable']);
    expect(w[0]?.message).toMatch(/neither \/proc\/net\/stat\/nf_conntrack nor ctnetlink/);
  });
});
