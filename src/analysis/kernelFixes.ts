/**
 * Which of the known conntrack/NAT kernel changes (../shared/DESIGN.md §1) a kernel version carries, so a report
 * can say what this machine could and could not show. Pure: an upstream kernel version (host/kernelVersion.ts) in,
 * one line per change out.
 * Versions in that table marked "~" are not certain; a kernel in such a range is reported as `uncertain`.
 */
import type { KernelVersion, KernelVersionSource } from '../types.js';

/**
 * uncertain: the table itself is not sure of the release (a "~" version). unknown: the kernel's own version does not
 * tell (a distribution's placeholder sublevel, a version not understood).
 */
export type FixStatus = 'present' | 'absent' | 'uncertain' | 'unknown';

interface Backport {
  /** Stable series, e.g. "4.19". */
  series: string;
  /** First stable release with the change; null when only the year is known (then the series is uncertain). */
  from: string | null;
  /** Where this was checked: a stable review mail (subject and message id), or `secondary:` a page that lists it. */
  source: string;
}

export interface KnownFix {
  id: string;
  change: string;
  race: 'tcp-syn' | 'dns' | 'vxlan' | 'all';
  /** The upstream commits (12-hex-digit ids) that make the change. */
  commits: readonly string[];
  /** Present from this mainline version on. */
  presentFrom: string;
  /** Versions in [uncertainFrom, presentFrom) may or may not carry it (the table marks the version "~"). */
  uncertainFrom?: string;
  backports: Backport[];
  /** Where the commits and the mainline release were checked (commit pages, mailing-list message ids). */
  sources: readonly string[];
  ifPresent: string;
  ifAbsent: string;
}

/**
 * Every row cites its sources; test/unit/fixtures/kernelFixSources.ts holds the excerpts they were checked against.
 * Mainline releases follow from the tree and date a commit was applied on (fixes to net/nf go into the release
 * under development, net-next/nf-next material into the next merge window) unless a source states the release.
 */
export const KNOWN_FIXES: readonly KnownFix[] = [
  {
    id: 'port-search-random',
    change:
      'NAT port search: port rovers removed, random start offset (6ed5943f8735); clash search bounded at 248 attempts, ' +
      'in rounds of 128, 64, 32, 16 and 8 ports from a new random offset each (a504b703bb1d)',
    race: 'tcp-syn',
    commits: ['6ed5943f8735', 'a504b703bb1d'],
    presentFrom: '5.0',
    backports: [
      { series: '4.9', from: '4.9.300', source: '[PATCH 4.9 26/48] netfilter: nat: remove l4 protocol port rovers, <20220207103753.195557005@linuxfoundation.org> (4.9.300-rc1)' },
      { series: '4.14', from: '4.14.265', source: '[PATCH 4.14 40/69] netfilter: nat: limit port clash resolution attempts, <20220207103756.945579357@linuxfoundation.org> (4.14.265-rc1)' },
      { series: '4.19', from: '4.19.228', source: '[PATCH 4.19 47/86] netfilter: nat: limit port clash resolution attempts, <20220207103759.092441686@linuxfoundation.org> (4.19.228-rc1)' },
    ],
    sources: [
      'https://git.zx2c4.com/linux-dev/commit/net?id=a504b703bb1da526a01593da0e4be2af9d9f5fa8 (committed to nf-next 2018-12-17, before v4.20: 5.0 merge window)',
      '4.19.y stable request: <Yfqb6BKXBqrkMkBa@strlen.de> (both commits, 2022-02-02)',
    ],
    ifPresent: 'the TCP SYN race is rare here (a few per 100 000 connects), not impossible: expect small counts',
    ifAbsent: 'the TCP SYN race is frequent here (percent of connects under contention)',
  },
  {
    id: 'udp-clash-same-tuple',
    change: 'resolve clash for matching conntracks (ed07d9a021df)',
    race: 'dns',
    commits: ['ed07d9a021df'],
    presentFrom: '4.19',
    backports: [],
    sources: [
      'https://git.zx2c4.com/linux-dev/commit/include/linux?id=ed07d9a021df6da53456663a76999189badc432a (committed to nf-next 2018-07-18)',
      'secondary: Alibaba Cloud / feiskyer DNS-timeout notes ("included since kernel v4.19")',
    ],
    ifPresent: 'A/AAAA races with identical tuples are resolved, not dropped',
    ifAbsent: 'A/AAAA races with identical tuples drop a query (5 s lookups)',
  },
  {
    id: 'udp-clash-same-origin',
    change: 'skip NAT clash resolution for same-origin entries (4e35c1cb9460)',
    race: 'dns',
    commits: ['4e35c1cb9460'],
    presentFrom: '5.0',
    backports: [
      { series: '4.9', from: '4.9.163', source: 'secondary: ssup2.github.io conntrack race notes ("Linux Longterm 4.9.163+, 4.14.106+, 4.19.29+"); the March 2019 stable review mails were not reachable' },
      { series: '4.14', from: '4.14.106', source: 'secondary: ssup2.github.io (as above)' },
      { series: '4.19', from: '4.19.29', source: 'secondary: ssup2.github.io (as above)' },
    ],
    sources: [
      'https://git.zx2c4.com/linux-dev/commit/?id=4e35c1cb9460240e983a01745b5f29fe3a4d8e39 (committed 2019-02-04, a fix during the 5.0 cycle)',
      'secondary: feiskyer kubernetes-handbook ("包含在内核 v5.0 中")',
    ],
    ifPresent: 'the second UDP race (same origin through NAT) is resolved',
    ifAbsent: 'the second UDP race (same origin through NAT) still drops queries',
  },
  {
    id: 'udp-clash-insert',
    change: 'allow insertion of clashing entries (6a757c07e51f)',
    race: 'dns',
    commits: ['6a757c07e51f'],
    presentFrom: '5.6',
    backports: [],
    sources: [
      '[PATCH nf 0/4] netfilter: conntrack: allow insertion of clashing entries, <20200203163707.27254-1-fw@strlen.de> (nf, 2020-02-03, after v5.5: 5.6)',
    ],
    ifPresent: 'the DNS race through a DNAT to different backends (the Kubernetes case) is resolved',
    ifAbsent: 'the DNS race through a DNAT to different backends (the Kubernetes case) can be shown',
  },
  {
    id: 'clashres-counter',
    change: '`clash_resolve` counter (`clashres` column, bc92470413f3); insert_failed counts only unresolved clashes from here',
    race: 'all',
    commits: ['bc92470413f3'],
    presentFrom: '5.10',
    backports: [],
    sources: [
      'https://git.zx2c4.com/linux-dev/commit/?id=ff73e7479b8eea594a985ca29f4b45d604dbcb2c (its child, committed to nf-next 2020-08-28: 5.10 merge window)',
      'https://git.zx2c4.com/linux-dev/diff/?id=bb89abe52bf426f1f40850c441efc77426cc31e1 (before it __nf_ct_resolve_clash() bumps insert_failed on a resolved clash)',
    ],
    ifPresent: 'insert_failed counts only unresolved clashes; resolved ones appear as clashres',
    ifAbsent: 'no clashres column: resolved clashes are invisible, insert_failed includes them (race drops are min(insert_failed, drop))',
  },
  {
    id: 'clash-reverse-direction',
    change: 'clash resolution for reverse collisions (a4e6a1031e77); nfqueue: old clash resolution logic removed (8af79d3edb5f)',
    race: 'dns',
    commits: ['a4e6a1031e77', '8af79d3edb5f'],
    presentFrom: '6.12',
    backports: [],
    sources: [
      'patchwork-bot on [PATCH net 01/14], <172735923478.1264119.9767417416009097828.git-patchwork-notify@kernel.org> (applied to netdev/net.git 2024-09-26, after v6.11: 6.12)',
    ],
    ifPresent: 'more UDP clash cases are resolved',
    ifAbsent: 'reverse-direction UDP clashes can still drop packets',
  },
  {
    id: 'udp-zero-checksum',
    change: 'NAT: never update the UDP checksum when it is 0 (ea64d8d6c675)',
    race: 'vxlan',
    commits: ['ea64d8d6c675'],
    presentFrom: '5.7',
    backports: [
      { series: '5.6', from: '5.6.13', source: '[PATCH 5.6 107/118] netfilter: nat: never update the UDP checksum when its 0, <20200513094427.452324281@linuxfoundation.org> (5.6.13-rc1)' },
      { series: '5.4', from: '5.4.41', source: '[PATCH 5.4 81/90] netfilter: nat: never update the UDP checksum when its 0, <20200513094417.648417436@linuxfoundation.org>; shortlog of Linux 5.4.41' },
      { series: '4.19', from: '4.19.123', source: '[PATCH 4.19 44/48] netfilter: nat: never update the UDP checksum when its 0, <20200513094403.869182531@linuxfoundation.org> (4.19.123-rc1)' },
      { series: '4.14', from: '4.14.181', source: '[PATCH 4.14 034/114] netfilter: nat: never update the UDP checksum when its 0, <20200518173509.806344582@linuxfoundation.org> (4.14.181-rc1)' },
    ],
    sources: [
      '[PATCH 1/2] netfilter: nat: never update the UDP checksum when it\'s 0, <20200429214811.19941-2-pablo@netfilter.org> (nf pull for net, 2020-04-29, after v5.6: 5.7)',
    ],
    ifPresent: 'VXLAN double SNAT no longer corrupts checksums (the double SNAT itself remains unless rules clear the mark)',
    ifAbsent: 'VXLAN double SNAT with --random-fully corrupts UDP checksums: the NIC drops the packets',
  },
  {
    id: 'evict-closing-tcp',
    change: 'SNAT: evict closing TCP entries on reply tuple collision (4589725502871e77)',
    race: 'tcp-syn',
    commits: ['458972550287'],
    presentFrom: '6.5',
    backports: [],
    sources: [
      'patchwork-bot on [net-next,6/8], <168781022304.12712.2901963056439649933.git-patchwork-notify@kernel.org> (applied to netdev/net-next.git 2023-06-26, in the 6.5 merge window)',
    ],
    ifPresent: 'port exhaustion by closing entries is eased (the concurrency race is not affected)',
    ifAbsent: 'closing TCP entries can still block a reused tuple (port exhaustion, not the race)',
  },
  {
    id: 'syn-linear-timeouts',
    change: 'linear SYN timeouts: net.ipv4.tcp_syn_linear_timeouts, default 4 (ccce324dabfe)',
    race: 'tcp-syn',
    commits: ['ccce324dabfe'],
    presentFrom: '6.5',
    backports: [],
    sources: [
      'https://git.zx2c4.com/wireguard-linux/commit/?id=ccce324dabfe2143519daf50ed8b1ef1d0c542f7 (committed to net-next 2023-05-11, during 6.4-rc: 6.5)',
      'https://lore.kernel.org/r/20230509180558.2541885-1-morleyd.kernel@gmail.com',
      'secondary: docs.kernel.org ip-sysctl via l2dy.github.io ("net.ipv4.tcp_syn_linear_timeouts - INTEGER (since Linux 6.5)")',
    ],
    ifPresent: 'SYN-loss stalls complete at 1, 2, 3, 4, 5, 7, 11 s (4 linear timeouts): bands follow the clients\' schedule',
    ifAbsent: 'SYN-loss stalls complete at 1, 3, 7, 15 s (exponential backoff from the first retransmit)',
  },
];

/** "5.10.0-28-amd64" -> [5, 10, 0]; missing parts are 0; null when there is no leading number. */
export function parseVersion(v: string): [number, number, number] | null {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v.trim());
  if (!m) return null;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

export function compareVersions(a: [number, number, number], b: [number, number, number]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

export interface FixAssessment {
  id: string;
  change: string;
  race: KnownFix['race'];
  /** The upstream commits of the change. */
  commits: readonly string[];
  status: FixStatus;
  /** Why this status: which version rule decided. */
  basis: string;
  /** What that means for what this machine can show. */
  meaning: string;
}

function v(s: string): [number, number, number] {
  const p = parseVersion(s);
  if (!p) throw new Error(`bad version literal ${s}`);
  return p;
}

/** The status of one known change on an exact kernel version, and the rule that decided it. */
function statusAt(fix: KnownFix, k: [number, number, number]): { status: FixStatus; basis: string } {
  if (compareVersions(k, v(fix.presentFrom)) >= 0) return { status: 'present', basis: `mainline since ${fix.presentFrom}` };
  if (fix.uncertainFrom && compareVersions(k, v(fix.uncertainFrom)) >= 0) {
    return { status: 'uncertain', basis: `mainline version known only as ~${fix.uncertainFrom}–${fix.presentFrom}` };
  }
  const series = `${k[0]}.${k[1]}`;
  const bp = fix.backports.find((b) => b.series === series);
  if (bp) {
    if (bp.from === null) return { status: 'uncertain', basis: `backported to ${series} stable, release not known` };
    const per = bp.source.startsWith('secondary:') ? ' (per a secondary source; the stable changelog was not checked)' : '';
    return compareVersions(k, v(bp.from)) >= 0 ? { status: 'present', basis: `backported in ${bp.from}${per}` } : { status: 'absent', basis: `backported only in ${bp.from}${per}` };
  }
  return { status: 'absent', basis: `older than mainline ${fix.presentFrom}, no known backport to ${series}` };
}

const SOURCE_TEXT: Record<KernelVersionSource, string> = {
  'version-signature': '/proc/version_signature',
  'proc-version': '/proc/version',
  'deb-package': 'the kernel package version',
  uname: 'uname -r',
};

/** "6.1.192"; "4.18.x" when the sublevel is not known. */
export function kernelVersionText(k: KernelVersion): string {
  return k.exact ? k.version : `${k.version}.x`;
}

/** With where it was read: "6.1.192 (from /proc/version)", "4.18.x (sublevel unknown: uname -r does not give it)". */
export function kernelVersionWithSource(k: KernelVersion): string {
  return k.exact ? `${k.version} (from ${SOURCE_TEXT[k.source]})` : `${k.version}.x (sublevel unknown: ${SOURCE_TEXT[k.source]} does not give it)`;
}

/**
 * Pure: the status of one known change on a kernel. Where the sublevel is not known (k.exact false) a change that
 * came to the series in a stable release is `unknown`, never `absent`: the kernel may well carry it.
 */
export function assessFix(fix: KnownFix, kernel: KernelVersion): FixAssessment {
  const base = { id: fix.id, change: fix.change, race: fix.race, commits: fix.commits };
  const say = (status: FixStatus, basis: string): FixAssessment => ({
    ...base,
    status,
    basis,
    meaning: status === 'present' ? fix.ifPresent : status === 'absent' ? fix.ifAbsent : `either: ${fix.ifPresent}; or: ${fix.ifAbsent}`,
  });
  const k = parseVersion(kernel.version);
  if (!k) return say('unknown', `kernel version "${kernel.version}" not understood`);
  if (kernel.exact) {
    const r = statusAt(fix, k);
    return say(r.status, r.basis);
  }
  const lowest = statusAt(fix, [k[0], k[1], 0]);
  const highest = statusAt(fix, [k[0], k[1], Number.MAX_SAFE_INTEGER]);
  if (lowest.status === highest.status) return say(lowest.status, lowest.basis);
  return say('unknown', `${highest.basis}: whether this ${k[0]}.${k[1]} kernel has it depends on its sublevel, which ${SOURCE_TEXT[kernel.source]} does not give`);
}

/** Pure: every known change assessed for a kernel (vendor kernels may carry more than their version says). */
export function assessKernel(kernel: KernelVersion): FixAssessment[] {
  return KNOWN_FIXES.map((f) => assessFix(f, kernel));
}

export const VENDOR_CAVEAT =
  'Judged from the upstream version number only: distribution kernels (RHEL, Ubuntu, ...) backport fixes without changing it.';
