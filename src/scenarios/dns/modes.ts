import { parseModeList } from '../shared/modeList.js';
import { MASQUERADE_MODES, type MasqueradeMode } from '../../types.js';
import { RESOLVER_OPTIONS, type ResolverOption } from '../../agents/dns/glibcResolver.js';

/**
 * The configurations `repro dns` compares: the MASQUERADE flags, the resolv.conf mitigations (each under the
 * docker0 default, MASQUERADE without a flag) and `notrack` (the node-local-cache path: no conntrack for the
 * harness's DNS packets, so no NAT either: clients ask a backend directly).
 */
export type DnsMitigation = ResolverOption | 'notrack';
export type DnsMode = MasqueradeMode | DnsMitigation;
export const DNS_MITIGATIONS: readonly DnsMitigation[] = [...RESOLVER_OPTIONS, 'notrack'];
export const DNS_MODES: readonly DnsMode[] = [...MASQUERADE_MODES, ...DNS_MITIGATIONS];

export interface DnsModePlan {
  mode: DnsMode;
  /** MASQUERADE flag under test; null: no NAT at all (notrack). */
  masquerade: MasqueradeMode | null;
  resolverOptions: ResolverOption[];
  notrack: boolean;
  /** Do the clients ask the service VIP (when --vip on)? notrack cannot: DNAT needs conntrack. */
  viaVip: boolean;
}

export function planDnsMode(mode: DnsMode, vip: boolean): DnsModePlan {
  if ((MASQUERADE_MODES as readonly string[]).includes(mode)) {
    return { mode, masquerade: mode as MasqueradeMode, resolverOptions: [], notrack: false, viaVip: vip };
  }
  if (mode === 'notrack') return { mode, masquerade: null, resolverOptions: [], notrack: true, viaVip: false };
  return { mode, masquerade: 'none', resolverOptions: [mode as ResolverOption], notrack: false, viaVip: vip };
}

/** Does this mode change anything for a client that does not run glibc's resolver (raw, burst)? */
export function affectsOnlyLibc(mode: DnsMode): boolean {
  return (RESOLVER_OPTIONS as readonly string[]).includes(mode);
}

export function parseDnsModes(text: string): DnsMode[] {
  return parseModeList(text, DNS_MODES, 'mode or mitigation');
}
