import type { ConntrackFlow } from '../../host/conntrackFlows.js';
import type { Owner } from './owners.js';
import { confirmCandidate, exactHook, HOOK_NAMES, PROTOCOLS, type DropLine, type HookId } from './program.js';

/** One conntrack drop, as printed (a line) and as NDJSON (--json). */
export type DropKind = 'insert-race' | 'netfilter-drop' | 'confirm-failed';

export interface Endpoint {
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

export interface TraceRecord {
  time: string;
  hook: string;
  kind: DropKind;
  /** The namespace the drop happened in (where the NAT is), and its owner. */
  netns: string;
  protocol: string;
  original: Endpoint;
  /** The tuple the NAT gave it: where the packet would have left from. */
  translated: Endpoint;
  client: Owner | null;
  partner: { original: Endpoint; client: Owner | null } | null;
  /** Why the kind is what it is, in one phrase. */
  reason: string;
}

/** The translated tuple of an entry: the reply tuple turned around. */
export const translatedOf = (d: DropLine): Endpoint => ({ src: d.reply.dst, sport: d.reply.dport, dst: d.reply.src, dport: d.reply.sport });

export function protocolName(n: number): string {
  return PROTOCOLS[n] ?? String(n);
}

/**
 * The kind of a drop (pure). A candidate (the confirm failed, or the entry was dropped unconfirmed after NAT) is the
 * race only when another entry, of another source, holds the same reply tuple: that is the clash the confirm lost.
 */
export function classify(hook: HookId, d: DropLine, partner: ConntrackFlow | null): { kind: DropKind; reason: string } {
  if (!confirmCandidate(hook, d.status)) return { kind: 'netfilter-drop', reason: 'dropped before SNAT or after the confirm: a rule, not the race' };
  const other = partner !== null && (partner.original.src !== d.original.src || partner.original.sport !== d.original.sport);
  if (other) return { kind: 'insert-race', reason: 'its translated tuple is held by another flow: the insert clash' };
  if (exactHook(hook)) return { kind: 'confirm-failed', reason: 'the confirm failed with no entry holding its tuple (a dying entry, a hash chain too long, or the partner already gone)' };
  return { kind: 'netfilter-drop', reason: 'dropped after NAT with no entry holding its tuple: a late rule, or a race whose partner was already gone' };
}

export function makeRecord(at: Date, hook: HookId, netns: string, d: DropLine, partner: ConntrackFlow | null, client: Owner | null, partnerClient: Owner | null): TraceRecord {
  const { kind, reason } = classify(hook, d, partner);
  const p = kind === 'insert-race' && partner ? partner : null;
  return {
    time: at.toISOString(),
    hook: HOOK_NAMES[hook],
    kind,
    netns,
    protocol: protocolName(d.protocol),
    original: d.original,
    translated: translatedOf(d),
    client,
    partner: p ? { original: { src: p.original.src, sport: p.original.sport ?? 0, dst: p.original.dst, dport: p.original.dport ?? 0 }, client: partnerClient } : null,
    reason,
  };
}

const ep = (a: string, p: number): string => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
const who = (o: Owner | null): string => (o ? (o.container && o.id.startsWith('pod:') ? `${o.id} (${o.container})` : o.id) : 'unknown');

/** The terminal line of a record. Pure. */
export function recordLine(r: TraceRecord): string {
  const time = r.time.slice(11, 23);
  const head = `${time}  ${r.kind}  ${r.netns}  ${r.protocol} ${ep(r.original.src, r.original.sport)} -> ${ep(r.original.dst, r.original.dport)} as ${ep(r.translated.src, r.translated.sport)}  client ${who(r.client)}`;
  if (r.partner) return `${head}  partner ${ep(r.partner.original.src, r.partner.original.sport)} ${who(r.partner.client)}`;
  return `${head}  (${r.reason})`;
}

/**
 * The interval check (pure): the insert-race records of a namespace against its insert_failed delta. Null when they
 * agree; otherwise the difference and its likely causes.
 */
export function intervalCheck(netns: string, races: number, delta: Record<string, number>, lostEvents: number, unmatched: number): string | null {
  const failed = delta['insert_failed'];
  if (failed === undefined || failed === races) return null;
  const causes: string[] = [];
  const chain = delta['chainlength'] ?? 0;
  if (chain > 0) causes.push(`${chain} from hash chains too long (chaintoolong counts in insert_failed, no race)`);
  if (lostEvents > 0) causes.push(`${lostEvents} events lost by the buffers or drops beyond the lookups at once`);
  if (unmatched > 0) causes.push(`${unmatched} confirm drops without a partner found (gone before the lookup)`);
  if (failed < races) causes.push('records of drops counted in the next interval');
  if (causes.length === 0) causes.push('drops the hook did not see (an skb without a conntrack entry, or another drop site)');
  return `! ${netns}: insert_failed +${failed} but ${races} insert-race records: ${causes.join('; ')}`;
}
