import { masqueradeFlag } from '../../host/iptables.js';
import type { MasqueradeMode } from '../../types.js';

/**
 * The kube-proxy-shaped nat table of a vxlan scenario node, as iptables-restore batches. These rules live only
 * inside the harness's own node namespaces (never on the host): a whole-table restore there replaces the
 * namespace's nat table atomically and leaves nothing else to undo, since the namespace goes with the run.
 *
 * A ClusterIP service like kube-proxy's: traffic to the service from outside the cluster CIDR (the node's own
 * host-network address) is marked by KUBE-MARK-MASQ and DNATed to the pod; KUBE-POSTROUTING masquerades marked
 * packets. Pure: no I/O.
 */

export const MASQ_MARK = '0x4000';
export const SNAT_COMMENT = 'kubernetes service traffic requiring SNAT';
/** Tags the counting-only rule that sees new outer VXLAN flows still carrying the mark. */
export const MARKED_VXLAN_COMMENT = 'repro: marked VXLAN flow';

export type PostroutingVariant = 'legacy' | 'patched';
export const POSTROUTING_VARIANTS: readonly PostroutingVariant[] = ['legacy', 'patched'];

export interface KubeService {
  /** Pod CIDR of the whole cluster: sources inside it are not masqueraded. */
  clusterCidr: string;
  serviceIp: string;
  servicePort: number;
  /** The one endpoint (a pod on the other node). */
  endpointIp: string;
  endpointPort: number;
  /** UDP port of the vxlan device (flannel: 8472). */
  vxlanPort: number;
}

const SVC_CHAIN = 'KUBE-SVC-REPRO';
const SEP_CHAIN = 'KUBE-SEP-REPRO';

/**
 * KUBE-POSTROUTING as kube-proxy wrote it before and after kubernetes/kubernetes#92035.
 * legacy: MASQUERADE whatever carries the mark; the mark stays on the skb, so the VXLAN packet that
 * encapsulates it is masqueraded again. patched: RETURN unless marked, clear the mark (xor), then MASQUERADE.
 */
export function kubePostroutingRules(variant: PostroutingVariant, flag: MasqueradeMode): string[] {
  const masquerade = `-m comment --comment "${SNAT_COMMENT}" -j MASQUERADE${masqueradeFlag(flag)}`;
  if (variant === 'legacy') {
    return [`-A KUBE-POSTROUTING -m mark --mark ${MASQ_MARK}/${MASQ_MARK} ${masquerade}`];
  }
  return [
    `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`,
    `-A KUBE-POSTROUTING ${masquerade}`,
  ];
}

/** The node's whole nat table for one mode: service DNAT with KUBE-MARK-MASQ, the counting rule, KUBE-POSTROUTING. */
export function kubeProxyNatBatch(svc: KubeService, variant: PostroutingVariant, flag: MasqueradeMode): string {
  const dport = `-p tcp -m tcp --dport ${svc.servicePort}`;
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    `:${SVC_CHAIN} - [0:0]`,
    `:${SEP_CHAIN} - [0:0]`,
    '-A PREROUTING -j KUBE-SERVICES',
    '-A OUTPUT -j KUBE-SERVICES',
    // Counts only (no target): new outer VXLAN flows that reach POSTROUTING still marked, i.e. that
    // KUBE-POSTROUTING is about to masquerade a second time. It changes nothing for the packet.
    `-A POSTROUTING -p udp -m udp --dport ${svc.vxlanPort} -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -m comment --comment "${MARKED_VXLAN_COMMENT}"`,
    '-A POSTROUTING -j KUBE-POSTROUTING',
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`,
    `-A KUBE-SERVICES -d ${svc.serviceIp}/32 ${dport} -j ${SVC_CHAIN}`,
    `-A ${SVC_CHAIN} ! -s ${svc.clusterCidr} -d ${svc.serviceIp}/32 ${dport} -j KUBE-MARK-MASQ`,
    `-A ${SVC_CHAIN} -j ${SEP_CHAIN}`,
    `-A ${SEP_CHAIN} -s ${svc.endpointIp}/32 -j KUBE-MARK-MASQ`,
    `-A ${SEP_CHAIN} -p tcp -m tcp -j DNAT --to-destination ${svc.endpointIp}:${svc.endpointPort}`,
    ...kubePostroutingRules(variant, flag),
    'COMMIT',
    '',
  ].join('\n');
}

/** The KUBE-POSTROUTING rules of a mode as one line for the result's `rule` field. */
export function describePostrouting(variant: PostroutingVariant, flag: MasqueradeMode): string {
  return kubePostroutingRules(variant, flag).map((r) => r.slice(3)).join(' ; ');
}
