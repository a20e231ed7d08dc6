import { delta } from '../../report/format.js';
import { modeRow } from '../../report/modeRows.js';
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
    row('server UdpRcvbufErrors', (m) => delta(m.counters.server['UdpRcvbufErrors'])),
    row('server UdpInErrors', (m) => delta(m.counters.server['UdpInErrors'])),
    row('clients UdpRcvbufErrors', (m) => delta(m.counters.clients['UdpRcvbufErrors'])),
  ];
}
