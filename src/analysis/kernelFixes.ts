/**
 * Which of the known conntrack/NAT kernel changes (../shared/DESIGN.md §1) a kernel version carries, so a report
 * can say what this machine could and could not show. Pure: a version string in, one line per change out.
 * Versions in that table marked "~" are not certain; a kernel in such a range is reported as `uncertain`.
 */

export type FixStatus = 'present' | 'absent' | 'uncertain';

interface Backport {
  /** Stable series, e.g. "4.19". */
  series: string;
  /** First stable release with the change; null when only the year is known (then the series is uncertain). */
  from: string | null;
}

export interface KnownFix {
  id: string;
  change: string;
  race: 'tcp-syn' | 'dns' | 'vxlan' | 'all';
  /** Present from this mainline version on. */
  presentFrom: string;
  /** Versions in [uncertainFrom, presentFrom) may or may not carry it (the table marks the version "~"). */
  uncertainFrom?: string;
  backports: Backport[];
  ifPresent: string;
  ifAbsent: string;
}

export const KNOWN_FIXES: readonly KnownFix[] = [
  {
    id: 'port-search-random',
    change: 'NAT port search: rovers removed, random start offset (6ed5943f8735), clash search capped at 128 tries (a504b703bb1d)',
    race: 'tcp-syn',
    uncertainFrom: '4.20',
    presentFrom: '5.1',
    backports: [{ series: '4.9', from: '4.9.300' }, { series: '4.14', from: null }, { series: '4.19', from: '4.19.228' }],
    ifPresent: 'the TCP SYN race is rare here (a few per 100 000 connects), not impossible: expect small counts',
    ifAbsent: 'the TCP SYN race is frequent here (percent of connects under contention)',
  },
  {
    id: 'udp-clash-same-tuple',
    change: 'resolve clash for matching conntracks (ed07d9a021df)',
    race: 'dns',
    presentFrom: '4.19',
    backports: [],
    ifPresent: 'A/AAAA races with identical tuples are resolved, not dropped',
    ifAbsent: 'A/AAAA races with identical tuples drop a query (5 s lookups)',
  },
  {
    id: 'udp-clash-same-origin',
    change: 'skip NAT clash resolution for same-origin entries (4e35c1cb9460)',
    race: 'dns',
    presentFrom: '5.0',
    backports: [],
    ifPresent: 'the second UDP race (same origin through NAT) is resolved',
    ifAbsent: 'the second UDP race (same origin through NAT) still drops queries',
  },
  {
    id: 'udp-clash-insert',
    change: 'allow insertion of clashing entries (6a757c07e51f)',
    race: 'dns',
    presentFrom: '5.6',
    backports: [],
    ifPresent: 'the DNS race through a DNAT to different backends (the Kubernetes case) is resolved',
    ifAbsent: 'the DNS race through a DNAT to different backends (the Kubernetes case) can be shown',
  },
  {
    id: 'clashres-counter',
    change: '`clash_resolve` counter (`clashres` column)',
    race: 'all',
    uncertainFrom: '5.9',
    presentFrom: '5.11',
    backports: [],
    ifPresent: 'insert_failed counts only unresolved clashes; resolved ones appear as clashres',
    ifAbsent: 'no clashres column: resolved clashes are invisible, insert_failed may include them',
  },
  {
    id: 'clash-reverse-direction',
    change: 'reverse-direction clash resolution; nfqueue clash fix',
    race: 'dns',
    presentFrom: '6.12',
    backports: [],
    ifPresent: 'more UDP clash cases are resolved',
    ifAbsent: 'reverse-direction UDP clashes can still drop packets',
  },
  {
    id: 'udp-zero-checksum',
    change: 'NAT: never update the UDP checksum when it is 0',
    race: 'vxlan',
    presentFrom: '5.7',
    backports: [
      { series: '5.6', from: '5.6.13' },
      { series: '5.4', from: '5.4.41' },
      { series: '4.19', from: '4.19.123' },
      { series: '4.14', from: '4.14.181' },
    ],
    ifPresent: 'VXLAN double SNAT no longer corrupts checksums (the double SNAT itself remains unless rules clear the mark)',
    ifAbsent: 'VXLAN double SNAT with --random-fully corrupts UDP checksums: the NIC drops the packets',
  },
  {
    id: 'evict-closing-tcp',
    change: 'evict closing TCP entries on reply-tuple collision',
    race: 'tcp-syn',
    uncertainFrom: '6.4',
    presentFrom: '6.7',
    backports: [],
    ifPresent: 'port exhaustion by closing entries is eased (the concurrency race is not affected)',
    ifAbsent: 'closing TCP entries can still block a reused tuple (port exhaustion, not the race)',
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

/** Pure: the status of one known change on a kernel version. */
export function assessFix(fix: KnownFix, kernelVersion: string): FixAssessment {
  const base = { id: fix.id, change: fix.change, race: fix.race };
  const k = parseVersion(kernelVersion);
  const say = (status: FixStatus, basis: string): FixAssessment => ({
    ...base,
    status,
    basis,
    meaning: status === 'present' ? fix.ifPresent : status === 'absent' ? fix.ifAbsent : `either: ${fix.ifPresent}; or: ${fix.ifAbsent}`,
  });
  if (!k) return say('uncertain', `kernel version "${kernelVersion}" not understood`);
  if (compareVersions(k, v(fix.presentFrom)) >= 0) return say('present', `mainline since ${fix.presentFrom}`);
  if (fix.uncertainFrom && compareVersions(k, v(fix.uncertainFrom)) >= 0) {
    return say('uncertain', `mainline version known only as ~${fix.uncertainFrom}–${fix.presentFrom}`);
  }
  const series = `${k[0]}.${k[1]}`;
  const bp = fix.backports.find((b) => b.series === series);
  if (bp) {
    if (bp.from === null) return say('uncertain', `backported to ${series} stable, release not known`);
    return compareVersions(k, v(bp.from)) >= 0 ? say('present', `backported in ${bp.from}`) : say('absent', `backported only in ${bp.from}`);
  }
  return say('absent', `older than mainline ${fix.presentFrom}, no known backport to ${series}`);
}

/** Pure: every known change assessed for a kernel version (vendor kernels may carry more than their version says). */
export function assessKernel(kernelVersion: string): FixAssessment[] {
  return KNOWN_FIXES.map((f) => assessFix(f, kernelVersion));
}

export const VENDOR_CAVEAT =
  'Judged from the upstream version number only: distribution kernels (RHEL, Ubuntu, ...) backport fixes without changing it.';
