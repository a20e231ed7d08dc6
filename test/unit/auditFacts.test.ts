import { describe, expect, it } from 'vitest';
import { assessKernel } from '../../src/analysis/kernelFixes.js';
import type { ResolverConfig } from '../../src/host/resolvers.js';
import { containerIdOf } from '../../src/host/resolvers.js';
import { parseTxChecksumming, parseVxlanLinks } from '../../src/host/vxlanDevices.js';
import { dnsFindings, parseResolvConf, queryPattern, resolverUnreadable } from '../../src/node/audit/dnsFindings.js';
import { conntrackCounterFindings, statsUnreadableFindings, tablePressureFindings } from '../../src/node/audit/conntrackFindings.js';
import { synCompletionsMs, synScheduleFindings } from '../../src/node/audit/synScheduleFinding.js';
import { parseConntrackStat } from '../../src/host/conntrackStat.js';
import { fromUname } from './fixtures/distroKernels.js';

const NEW_KERNEL = assessKernel(fromUname('6.18.44'));
const OLD_KERNEL = assessKernel(fromUname('5.4.0'));

const conf = (where: string, text: string | null, libc: ResolverConfig['libc'] = 'glibc'): ResolverConfig => ({
  where,
  path: `/${where}/etc/resolv.conf`,
  text,
  error: text === null ? 'EACCES: permission denied' : null,
  libc,
});

describe('resolv.conf', () => {
  it('reads nameservers and every options line, ignoring comments', () => {
    expect(parseResolvConf('# by kubelet\nsearch default.svc.cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11 ; second\noptions ndots:5\noptions single-request-reopen timeout:2\n')).toEqual({
      nameservers: ['10.96.0.10', '10.96.0.11'],
      options: ['ndots:5', 'single-request-reopen', 'timeout:2'],
    });
  });

  it('glibc: parallel from one socket unless single-request, single-request-reopen or use-vc; musl ignores them', () => {
    expect(queryPattern('glibc', ['ndots:5']).pattern).toBe('parallel-one-socket');
    expect(queryPattern('glibc', ['single-request']).pattern).toBe('sequential');
    expect(queryPattern('glibc', ['single-request-reopen']).pattern).toBe('sequential');
    expect(queryPattern('glibc', ['use-vc']).pattern).toBe('tcp');
    expect(queryPattern('musl', ['single-request-reopen'])).toEqual({ pattern: 'parallel-one-socket', note: 'musl: parallel from one socket; ignores single-request-reopen' });
    expect(queryPattern('unknown', []).pattern).toBe('unknown');
  });
});

describe('dns-parallel-queries', () => {
  const resolvers = [
    conf('host', 'nameserver 10.255.255.53\n'),
    conf('container aaa (nginx)', 'nameserver 10.96.0.10\noptions ndots:5\n'),
    conf('container bbb (app)', 'nameserver 10.96.0.10\noptions single-request-reopen\n'),
    conf('container ccc (alpine)', 'nameserver 10.96.0.10\noptions single-request\n', 'musl'),
    conf('container ddd (coredns)', 'nameserver 1.1.1.1\n', 'unknown'),
    conf('container eee (?)', null),
  ];

  it('one finding per C library, listing the exposed files; mitigated glibc files are not listed', () => {
    const f = dnsFindings(resolvers, NEW_KERNEL);
    expect(f.map((x) => [x.subject, x.severity, x.evidence.length])).toEqual([
      ['glibc', 'low', 2],
      ['musl', 'low', 1],
      ['unknown resolver', 'info', 1],
    ]);
    expect(f[0]?.evidence).toEqual([
      'host: /host/etc/resolv.conf: nameserver 10.255.255.53; no options (glibc: A and AAAA back to back from one socket)',
      'container aaa (nginx): /container aaa (nginx)/etc/resolv.conf: nameserver 10.96.0.10; options ndots:5 (glibc: A and AAAA back to back from one socket)',
    ]);
    expect(f[1]?.evidence[0]).toMatch(/ignores single-request/);
    expect(f[1]?.fix).toMatch(/musl ignores/);
    expect(f[0]?.why).toMatch(/resolves such clashes/);
  });

  it('medium on a kernel without the UDP clash fixes, naming what it lacks', () => {
    const f = dnsFindings(resolvers, OLD_KERNEL);
    expect(f[0]?.severity).toBe('medium');
    expect(f[0]?.why).toMatch(/lacks .*6a757c07e51f|lacks/);
  });

  it('a file that cannot be read is a finding of its own', () => {
    expect(resolverUnreadable(resolvers, 'low')).toEqual([
      expect.objectContaining({ id: 'file-unreadable', subject: '/container eee (?)/etc/resolv.conf', evidence: ['EACCES: permission denied'] }),
    ]);
    expect(dnsFindings([conf('host', 'nameserver 1.1.1.1\noptions use-vc\n')], NEW_KERNEL)).toEqual([]);
  });
});

const STAT = [
  'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart',
  '0000000a  00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000003 00000000 00000000  00000000 00000000 00000000 00000000',
  '0000000a  00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000004 00000004 00000000 00000000  00000000 00000000 00000000 00000000',
].join('\n');

describe('conntrack-counters', () => {
  it('totals and per-CPU rows of the race counters, low when they moved since boot', () => {
    const [f] = conntrackCounterFindings('host', { stat: parseConntrackStat(STAT), source: 'procfs' });
    expect(f).toMatchObject({ id: 'conntrack-counters', severity: 'low', title: 'conntrack counters of host since boot: insert_failed=7 drop=7 clashres=3 early_drop=0' });
    expect(f?.evidence).toEqual([
      'source: /proc/net/stat/nf_conntrack',
      'total: insert_failed=7 drop=7 clashres=3 early_drop=0',
      'cpu0: insert_failed=3 drop=3 clashres=2 early_drop=0',
      'cpu1: insert_failed=4 drop=4 clashres=1 early_drop=0',
    ]);
    expect(f?.why).toMatch(/unresolved/);
  });

  it('info at zero; says when clashres is missing and when netlink was the source', () => {
    const old = parseConntrackStat('entries searched insert_failed drop early_drop\n00000001 00000000 00000000 00000000 00000000\n');
    const [f] = conntrackCounterFindings('pid:42', { stat: old, source: 'netlink', procfsError: '/proc/net/stat/nf_conntrack absent' });
    expect(f?.severity).toBe('info');
    expect(f?.evidence[0]).toBe('source: conntrack -S (netlink); procfs: /proc/net/stat/nf_conntrack absent');
    expect(f?.why).toMatch(/without a clashres column/);
  });

  it('conntrack-stats-unreadable gives each source its reason', () => {
    expect(statsUnreadableFindings('host', { procfs: 'absent', netlink: 'conntrack is not installed' })[0]?.evidence).toEqual(['procfs: absent', 'netlink: conntrack is not installed']);
  });
});

describe('conntrack-table-pressure', () => {
  it.each([
    [1000, 262144, 'info'],
    [200_000, 262144, 'medium'],
    [250_000, 262144, 'high'],
  ])('%i of %i: %s', (count, max, severity) => {
    expect(tablePressureFindings('host', { count, max, buckets: 65536 })[0]?.severity).toBe(severity);
  });
  it('says the chain length at max, and nothing without the sysctls', () => {
    expect(tablePressureFindings('host', { count: 1, max: 262144, buckets: 65536 })[0]?.why).toMatch(/average 4 entries per bucket/);
    expect(tablePressureFindings('host', { count: null, max: null, buckets: null })).toEqual([]);
  });
});

describe('syn-schedule', () => {
  it('6.5+ defaults: 1 s steps for the first five retransmits, then doubling', () => {
    const s = synCompletionsMs(6, 4);
    expect(s.completionMs.slice(0, 8)).toEqual([1000, 2000, 3000, 4000, 5000, 7000, 11000, 19000]);
    expect(s.completionMs).toHaveLength(10);
  });
  it('before 6.5 (no tcp_syn_linear_timeouts): 1, 3, 7, 15, 31, 63 s, gives up at 127 s', () => {
    expect(synCompletionsMs(6, 0)).toEqual({ completionMs: [1000, 3000, 7000, 15000, 31000, 63000], giveUpMs: 127000 });
  });
  it('the finding names the sysctls, or that they are absent', () => {
    const [f] = synScheduleFindings({ retries: '6', linear: null });
    expect(f?.title).toBe('a connect that lost 1, 2, 3 ... SYNs completes after 1 s, 3 s, 7 s, 15 s, 31 s, 63 s; it gives up after 127 s');
    expect(f?.evidence[1]).toMatch(/absent: kernel before 6\.5/);
  });
});

describe('host readers: pure parts', () => {
  it.each([
    ['12:memory:/docker/' + 'a'.repeat(64), 'a'.repeat(64)],
    ['0::/system.slice/docker-' + 'b'.repeat(64) + '.scope', 'b'.repeat(64)],
    ['0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-' + 'c'.repeat(64) + '.scope', 'c'.repeat(64)],
    ['11:pids:/kubepods/burstable/pod0e1f/' + 'd'.repeat(64), 'd'.repeat(64)],
    ['0::/machine.slice/libpod-' + 'e'.repeat(64) + '.scope/container', 'e'.repeat(64)],
    ['0::/user.slice/user-1000.slice/session-2.scope', null],
    ['4:memory:/process_api/f57550fd5231d28727575e7d3b653195', null],
  ])('container id of %s', (cgroup, id) => {
    expect(containerIdOf(cgroup)).toBe(id);
  });

  it('vxlan devices from ip -d -j link, tx-checksumming from ethtool -k', () => {
    const json = JSON.stringify([
      { ifname: 'flannel.1', linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 8472, udp_csum: false } } },
      { ifname: 'eth0', linkinfo: { info_kind: 'veth' } },
      { ifname: 'vx2', linkinfo: { info_kind: 'vxlan', info_data: { id: 2 } } },
    ]);
    expect(parseVxlanLinks(json)).toEqual([
      { name: 'flannel.1', port: 8472, udpCsum: false },
      { name: 'vx2', port: null, udpCsum: null },
    ]);
    expect(parseVxlanLinks('')).toEqual([]);
    expect(parseTxChecksumming('Features for flannel.1:\nrx-checksumming: on\ntx-checksumming: on\n\ttx-checksum-ip-generic: on\n')).toBe('on');
    expect(parseTxChecksumming('tx-checksumming: off [fixed]\n')).toBe('off');
    expect(() => parseTxChecksumming('netlink error: No such device')).toThrow(/no tx-checksumming/);
  });
});
