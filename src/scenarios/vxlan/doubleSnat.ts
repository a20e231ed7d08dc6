import { sourceTranslated, type ConntrackFlow } from '../../host/conntrackFlows.js';

/**
 * The conntrack side of the double-SNAT evidence: of the outer (encapsulated) VXLAN flows a node sent, how many
 * carry a translated source. The VXLAN packet is made by the node itself from its underlay address, so any
 * translation of its source is the second masquerade (the first one was the inner packet's). Pure.
 */
export interface OuterFlowSummary {
  /** UDP flows from `localAddress` to the vxlan port. */
  outerFlows: number;
  /** Those whose reply tuple no longer points back at the original source (address or port rewritten). */
  outerFlowsRemapped: number;
  /** The first remapped entry's line, for the reader; null when none. */
  example: string | null;
}

export function summarizeOuterFlows(flows: readonly ConntrackFlow[], localAddress: string, vxlanPort: number): OuterFlowSummary {
  const outer = flows.filter((f) => f.proto === 'udp' && f.original.src === localAddress && f.original.dport === vxlanPort);
  const remapped = outer.filter(sourceTranslated);
  return { outerFlows: outer.length, outerFlowsRemapped: remapped.length, example: remapped[0]?.line ?? null };
}
