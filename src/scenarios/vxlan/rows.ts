import type { ModeResult } from '../../types.js';

/** The vxlan scenario's own rows of the terminal table: the double-SNAT evidence and its cost, per mode. */
export function vxlanRows(modes: readonly ModeResult[]): string[][] {
  const row = (label: string, f: (v: NonNullable<ModeResult['vxlan']>, m: ModeResult) => string): string[] => [
    label,
    ...modes.map((m) => (m.vxlan ? f(m.vxlan, m) : '-')),
  ];
  const n = (x: number): string => x.toLocaleString('en-US');
  const csum = (v: NonNullable<ModeResult['vxlan']>): number => Object.values(v.checksumErrors).reduce((s, x) => s + x, 0);
  return [
    row('outer VXLAN flows (node A)', (v) => n(v.outerFlows)),
    row('  still marked 0x4000', (v) => n(v.markedOuterFlows)),
    row('  source port remapped', (v) => n(v.outerFlowsRemapped)),
    row('MASQUERADE hits (new flows)', (v) => n(v.masqueradeHits)),
    row('checksum errors', (v) => (csum(v) === 0 ? '0' : `+${n(csum(v))}`)),
    row('  lost SYNs they explain', (_v, m) => n(m.attribution.checksum ?? 0)),
    row('double SNAT', (v) => (v.doubleSnat ? 'YES' : 'no')),
    row('drops', (v) => (v.drops ? 'YES' : 'no')),
  ];
}
