import { run } from './exec.js';

/** IPv4 prefixes, as [network address as uint32, prefix length]. */
export interface Prefix {
  network: number;
  length: number;
}

export function parseIpv4(addr: string): number {
  const parts = addr.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${addr}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${addr}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parsePrefix(text: string): Prefix {
  const [addr, len, extra] = text.split('/');
  // Number('') is 0 and Number('0x8') is 8: only plain decimal lengths are prefixes.
  const length = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (extra !== undefined || !Number.isInteger(length) || length < 0 || length > 32) throw new Error(`not an IPv4 prefix: ${text}`);
  const ip = parseIpv4(addr ?? '');
  return { network: ip - (ip % 2 ** (32 - length)), length };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIpv4(p.network)}/${p.length}`;
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  // Two prefixes overlap when they agree on the bits of the shorter one.
  const scale = 2 ** (32 - Math.min(a.length, b.length));
  return Math.floor(a.network / scale) === Math.floor(b.network / scale);
}

/** Host address number `index` inside prefix p (1 = first usable). */
export function hostAddress(p: Prefix, index: number): string {
  if (index < 1 || index >= 2 ** (32 - p.length) - 1) throw new Error(`host ${index} is outside ${formatPrefix(p)}`);
  return formatIpv4(p.network + index);
}

/**
 * Candidate /24s for the harness's own hosts, tried in order. Ranges picked to be unlikely on real
 * networks (Docker uses 172.17+/16 and 192.168.x; Kubernetes defaults 10.96/12, 10.244/16).
 */
export function candidateSubnets(): Prefix[] {
  const out: Prefix[] = [];
  for (let third = 0; third < 256; third++) out.push({ network: parseIpv4(`10.213.${third}.0`), length: 24 });
  for (let third = 0; third < 256; third++) out.push({ network: parseIpv4(`10.214.${third}.0`), length: 24 });
  return out;
}

/** Pick `count` /24s that overlap none of the prefixes in use. */
export function pickFreeSubnets(inUse: readonly Prefix[], count: number, candidates = candidateSubnets()): Prefix[] {
  const picked: Prefix[] = [];
  for (const c of candidates) {
    if (inUse.some((u) => overlaps(u, c))) continue;
    if (picked.some((p) => overlaps(p, c))) continue;
    picked.push(c);
    if (picked.length === count) return picked;
  }
  throw new Error(`no free /24 found among ${candidates.length} candidates in 10.213.0.0/16 and 10.214.0.0/16`);
}

/** Prefixes that routes (all tables) and addresses on this host use; "default" routes are skipped. */
export function parseRoutesAndAddrs(routeText: string, addrText: string): Prefix[] {
  const out: Prefix[] = [];
  for (const line of routeText.split('\n')) {
    const m = /^(?:(?:unicast|local|broadcast|blackhole|unreachable|prohibit|throw|multicast)\s+)?(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)\s/.exec(line.trim() + ' ');
    if (m?.[1]) out.push(parsePrefix(m[1]));
  }
  for (const line of addrText.split('\n')) {
    const m = /\binet (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(line);
    if (m?.[1]) out.push(parsePrefix(m[1]));
  }
  return out;
}

/** Source and destination prefixes that iptables rules name (a host's own rules may already claim a range). */
export function parseIptablesPrefixes(saveText: string): Prefix[] {
  const out: Prefix[] = [];
  for (const m of saveText.matchAll(/\s(?:-s|-d|--to-destination|--to-source)\s+(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)/g)) {
    const p = parsePrefix(m[1] ?? '');
    if (p.length > 0) out.push(p);
  }
  return out;
}

/** Prefixes routes, addresses and iptables rules on this host already use: the harness picks around them. */
export async function prefixesInUse(): Promise<Prefix[]> {
  const [routes, addrs, rules] = await Promise.all([
    run('ip', ['-4', 'route', 'show', 'table', 'all']),
    run('ip', ['-4', '-o', 'addr', 'show']),
    run('iptables-save', [], { check: false }).catch(() => ({ stdout: '' })),
  ]);
  return [...parseRoutesAndAddrs(routes.stdout, addrs.stdout), ...parseIptablesPrefixes(rules.stdout)];
}
