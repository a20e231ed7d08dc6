import { delta } from '../../report/format.js';
import { modeRow } from '../../report/modeRows.js';
import { resolvedClashes } from './analyze.js';
import type { ModeResult } from '../../types.js';

/**
 * The dns scenario's own rows of the terminal table: how the kernel handled clashes (resolved or dropped) and
 * whether the harness itself dropped a datagram. The generic rows above them count in lookups and lost queries
 * (the attribution's unit is `lost-query`).
 */
export function dnsRows(modes: readonly ModeResult[]): string[][] {
  const row = (label: string, f: (m: ModeResult) => string): string[] => modeRow(modes, label, f);
  return [
    row('conntrack clashres', (m) => delta(m.counters.conntrack['clashres'])),
    // Before 5.10 there is no clashres column: insert_failed - drop is the least the kernel resolved.
    row('race resolved by the kernel', (m) => {
      const n = resolvedClashes(m.counters.conntrack);
      if (n === null) return '-';
      return `${m.verdict === 'race-resolved' ? 'YES' : n > 0 ? 'yes' : 'no'} (${'clashres' in m.counters.conntrack ? '' : '>= '}${n})`;
    }),
    row('server UdpRcvbufErrors', (m) => delta(m.counters.server['UdpRcvbufErrors'])),
    row('server UdpInErrors', (m) => delta(m.counters.server['UdpInErrors'])),
    row('clients UdpRcvbufErrors', (m) => delta(m.counters.clients['UdpRcvbufErrors'])),
  ];
}
