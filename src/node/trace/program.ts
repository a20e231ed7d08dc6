/**
 * The bpftrace programs `repro trace` runs, one per kernel hook. Each prints one line per conntrack drop:
 *   D <ktime ns> <netns inode> <ct status> <l3 family> <l4 proto> <orig src> <orig sport> <orig dst> <orig dport> <reply src> <reply sport> <reply dst> <reply dport>
 * read from the skb's conntrack entry (skb->_nfct, through BTF). Pure text generation; parseDropLine reads it back.
 */

/** The hooks, best first. `exact` hooks see the failed confirm itself; the tracepoint ones infer it from the entry. */
export const HOOKS = ['fexit', 'kretprobe', 'kfree_skb-reason', 'kfree_skb-location'] as const;
export type HookId = (typeof HOOKS)[number];

/** How each hook is named in the output and the JSON. */
export const HOOK_NAMES: Record<HookId, string> = {
  fexit: 'fexit:__nf_conntrack_confirm returning NF_DROP',
  kretprobe: 'kretprobe:__nf_conntrack_confirm returning NF_DROP',
  'kfree_skb-reason': 'tracepoint:skb:kfree_skb reason NETFILTER_DROP, entry unconfirmed and NAT-ed',
  'kfree_skb-location': 'tracepoint:skb:kfree_skb in nf_hook_slow, entry unconfirmed and NAT-ed',
};

/** Does the hook see the confirm's verdict (exact), or infer it from the dropped skb's entry? */
export const exactHook = (h: HookId): boolean => h === 'fexit' || h === 'kretprobe';

export interface ProgramInput {
  hook: HookId;
  /** kfree_skb-reason: SKB_DROP_REASON_NETFILTER_DROP on this kernel (read from the tracepoint's format). */
  netfilterDropReason?: number;
  /** kfree_skb-location: nf_hook_slow's [start, end) in the kernel's text (from /proc/kallsyms). */
  nfHookSlow?: { start: bigint; end: bigint };
  /** Only drops in these network namespaces (inode numbers); all when empty. */
  netnsInodes: readonly number[];
}

const T = (dir: 0 | 1, part: string): string => `$ct->tuplehash[${dir}].tuple.${part}`;
const port = (dir: 0 | 1, side: 'src' | 'dst'): string => `bswap(${T(dir, `${side}.u.all`)})`;

/** The body shared by every hook: $skb is set; prints the D line when the skb carries an entry. */
function emit(netnsInodes: readonly number[]): string {
  const ns = '$ct->ct_net.net->ns.inum';
  // Always an `if`: bpftrace has no bare blocks.
  const filter = `if (${netnsInodes.length > 0 ? netnsInodes.map((i) => `${ns} == ${i}`).join(' || ') : '1'}) `;
  const addrs = (fam: string, field: string): string =>
    [0, 1].map((d) => `ntop(${fam}, ${T(d as 0 | 1, `src.u3.${field}`)}), ${port(d as 0 | 1, 'src')}, ntop(${fam}, ${T(d as 0 | 1, `dst.u3.${field}`)}), ${port(d as 0 | 1, 'dst')}`).join(', ');
  const line = (fam: string, field: string): string =>
    `printf("D %llu %u %u %u %u %s %u %s %u %s %u %s %u\\n", nsecs, ${ns}, $ct->status, ${T(0, 'src.l3num')}, ${T(0, 'dst.protonum')}, ${addrs(fam, field)});`;
  // _nfct's low 3 bits are the ctinfo; the rest is the nf_conn pointer.
  return `  $nfct = $skb->_nfct;
  if ($nfct != 0) {
    $ct = (struct nf_conn *)($nfct & 0xfffffffffffffff8);
    ${filter}{
      if (${T(0, 'src.l3num')} == 2) { ${line('2', 'ip')} }
      else { ${line('10', 'in6.in6_u.u6_addr8')} }
    }
  }`;
}

/**
 * "R" once every probe is attached: bpftrace reads its output only after attaching them all, so the first line
 * there is the sign that drops are being seen.
 */
export const READY_LINE = 'R';
const READY = `interval:ms:100 /@ready == 0/ { @ready = 1; printf("${READY_LINE}\\n"); }\n`;
const END = 'END { clear(@ready); }\n';

export function bpftraceProgram(p: ProgramInput): string {
  const body = emit(p.netnsInodes);
  switch (p.hook) {
    case 'fexit':
      // NF_DROP is 0.
      return `kretfunc:__nf_conntrack_confirm /retval == 0/ {\n  $skb = (struct sk_buff *)args->skb;\n${body}\n}\n${READY}${END}`;
    case 'kretprobe':
      return `kprobe:__nf_conntrack_confirm { @skb[tid] = arg0; }
kretprobe:__nf_conntrack_confirm /@skb[tid]/ {
  if (retval == 0) {
    $skb = (struct sk_buff *)@skb[tid];
${body}
  }
  delete(@skb[tid]);
}
${READY}END { clear(@ready); clear(@skb); }
`;
    case 'kfree_skb-reason':
      if (p.netfilterDropReason === undefined) throw new Error('kfree_skb-reason needs the NETFILTER_DROP reason number');
      return `tracepoint:skb:kfree_skb /args->reason == ${p.netfilterDropReason}/ {\n  $skb = (struct sk_buff *)args->skbaddr;\n${body}\n}\n${READY}${END}`;
    case 'kfree_skb-location': {
      const r = p.nfHookSlow;
      if (!r) throw new Error('kfree_skb-location needs nf_hook_slow\'s address range');
      // kaddr() and a small size: bpftrace reads a literal above 2^63 as a negative number.
      return `tracepoint:skb:kfree_skb /(uint64)args->location >= (uint64)kaddr("nf_hook_slow") && (uint64)args->location - (uint64)kaddr("nf_hook_slow") < ${r.end - r.start}/ {\n  $skb = (struct sk_buff *)args->skbaddr;\n${body}\n}\n${READY}${END}`;
    }
  }
}

/** SKB_DROP_REASON_NETFILTER_DROP's number from the kfree_skb tracepoint's format (it moves between kernels). */
export function netfilterDropReason(format: string): number | null {
  const m = /\{\s*(\d+),\s*"NETFILTER_DROP"\s*\}/.exec(format);
  return m ? Number(m[1]) : null;
}

/** Does the tracepoint carry a reason at all (5.17+)? */
export const formatHasReason = (format: string): boolean => /\bfield:enum skb_drop_reason reason;/.test(format);

/** nf_hook_slow's address range from /proc/kallsyms text: its address to the next higher symbol's. */
export function symbolRange(kallsyms: string, name: string): { start: bigint; end: bigint } | null {
  let start: bigint | null = null;
  const addrs: bigint[] = [];
  for (const line of kallsyms.split('\n')) {
    const m = /^([0-9a-f]+) [tT] (\S+)/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const a = BigInt(`0x${m[1]}`);
    addrs.push(a);
    if (m[2] === name) start = a;
  }
  if (start === null || start === 0n) return null; // 0: addresses hidden (kptr_restrict)
  let end: bigint | null = null;
  for (const a of addrs) if (a > start && (end === null || a < end)) end = a;
  return end === null ? null : { start, end };
}

export interface DropLine {
  /** CLOCK_MONOTONIC of the drop (bpftrace's nsecs; process.hrtime's clock too), for the interval check. */
  ktimeNs: bigint;
  netnsInode: number;
  status: number;
  family: 4 | 6;
  protocol: number;
  original: { src: string; sport: number; dst: string; dport: number };
  reply: { src: string; sport: number; dst: string; dport: number };
}

const ADDR = /^[0-9a-fA-F.:]+$/;

/** One D line back into fields; anything else (bpftrace's own messages) is null. */
export function parseDropLine(line: string): DropLine | null {
  const all = line.trim().split(' ');
  if (all[0] !== 'D' || all.length !== 14 || !/^\d{1,20}$/.test(all[1] ?? '')) return null;
  const ktimeNs = BigInt(all[1] ?? '0');
  const f = [all[0], ...all.slice(2)];
  const n = (i: number): number => Number(f[i]);
  const nums = [1, 2, 3, 4, 6, 8, 10, 12].map(n);
  if (nums.some((x) => !Number.isInteger(x) || x < 0)) return null;
  if (![5, 7, 9, 11].every((i) => ADDR.test(f[i] ?? ''))) return null;
  if (![6, 8, 10, 12].every((i) => n(i) <= 65535)) return null;
  const fam = n(3);
  if (fam !== 2 && fam !== 10) return null;
  const s = (i: number): string => f[i] ?? '';
  return {
    ktimeNs,
    netnsInode: n(1),
    status: n(2),
    family: fam === 2 ? 4 : 6,
    protocol: n(4),
    original: { src: s(5), sport: n(6), dst: s(7), dport: n(8) },
    reply: { src: s(9), sport: n(10), dst: s(11), dport: n(12) },
  };
}

/** ip_conntrack_status bits (include/uapi/linux/netfilter/nf_conntrack_common.h). */
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;

/**
 * Could this drop be a failed confirm? With an exact hook it is one. From kfree_skb: the entry is not confirmed yet
 * and both NAT hooks have run (the confirm is the last hook of POSTROUTING/INPUT, after NAT; a rule in the standard
 * chains drops before SNAT has run, so SRC_NAT_DONE is still clear).
 */
export function confirmCandidate(hook: HookId, status: number): boolean {
  if (exactHook(hook)) return true;
  return (status & IPS_CONFIRMED) === 0 && (status & IPS_SRC_NAT_DONE) !== 0 && (status & IPS_DST_NAT_DONE) !== 0;
}

export const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite' };
