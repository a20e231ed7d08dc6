import { runInNetns } from './exec.js';

/**
 * Entries of the conntrack table as `conntrack -L` prints them:
 *   udp  17 29 src=A dst=B sport=p dport=8472 [UNREPLIED] src=B dst=A sport=8472 dport=q mark=0 use=1
 * The first src/dst/sport/dport group is the original direction, the second the reply direction. A flow whose
 * source was translated (SNAT, MASQUERADE) has a reply tuple that no longer points back at the original source.
 */
export interface Tuple {
  src: string;
  dst: string;
  sport: number | null;
  dport: number | null;
}

export interface ConntrackFlow {
  proto: string;
  original: Tuple;
  reply: Tuple;
  /** Bracketed flags such as UNREPLIED, ASSURED. */
  flags: string[];
  /** The line as printed. */
  line: string;
}

const PROTOS = new Set(['tcp', 'udp', 'icmp', 'udplite', 'sctp', 'dccp', 'gre', 'unknown']);

export function parseConntrackFlows(text: string): ConntrackFlow[] {
  const out: ConntrackFlow[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const tokens = line.split(/\s+/);
    // Lines may carry a layer-3 prefix (`conntrack -L -o extended`: "ipv4 2 udp 17 ...").
    const start = tokens[0] === 'ipv4' || tokens[0] === 'ipv6' ? 2 : 0;
    const proto = tokens[start] ?? '';
    if (!PROTOS.has(proto)) continue;
    const groups: Record<string, string>[] = [];
    const flags: string[] = [];
    for (const t of tokens.slice(start + 1)) {
      const flag = /^\[([A-Z_]+)\]$/.exec(t);
      if (flag?.[1]) {
        flags.push(flag[1]);
        continue;
      }
      const kv = /^([a-z]+)=(\S+)$/.exec(t);
      if (!kv?.[1] || kv[2] === undefined) continue;
      if (kv[1] === 'src') groups.push({});
      const g = groups[groups.length - 1];
      if (g && !(kv[1] in g)) g[kv[1]] = kv[2];
    }
    const [o, r] = groups;
    if (!o || !r || o['src'] === undefined || o['dst'] === undefined || r['src'] === undefined || r['dst'] === undefined) continue;
    out.push({ proto, original: tuple(o), reply: tuple(r), flags, line });
  }
  return out;
}

function tuple(g: Record<string, string>): Tuple {
  const port = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  return { src: g['src'] ?? '', dst: g['dst'] ?? '', sport: port(g['sport']), dport: port(g['dport']) };
}

/** Was the flow's source translated? The reply goes back to where the NAT put the source, not where it started. */
export function sourceTranslated(f: ConntrackFlow): boolean {
  return f.reply.dst !== f.original.src || f.reply.dport !== f.original.sport;
}

/** `conntrack -L` inside a network namespace with the given filter arguments (e.g. -p udp --dport 8472). */
export async function readConntrackFlows(netns: string, filter: readonly string[]): Promise<ConntrackFlow[]> {
  const r = await runInNetns(netns, 'conntrack', ['-L', ...filter], { check: false });
  // An empty table is "0 flow entries have been shown"; anything else is a failed read, never "no flow".
  if (r.code !== 0 || !/flow entries have been shown/.test(r.stderr)) {
    throw new Error(`conntrack -L in ${netns} failed: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`);
  }
  return parseConntrackFlows(r.stdout);
}
