import type { FixAssessment } from '../../analysis/kernelFixes.js';
import type { RulesetRead } from '../../host/rulesets.js';
import type { VxlanDevice } from '../../host/vxlanDevices.js';
import type { Finding, Severity } from './findings.js';
import { parseIptablesSave, targetOf, type SavedRule } from './iptablesSave.js';

const MARK = '0x4000';

export type KubePostrouting =
  | { shape: 'legacy'; rules: SavedRule[]; fullyRandom: boolean; tool: string }
  | { shape: 'patched'; rules: SavedRule[]; tool: string }
  | null;

/**
 * The shape of kube-proxy's KUBE-POSTROUTING in one dump. legacy: MASQUERADE whatever carries the 0x4000 mark, the
 * mark left on the packet (so the VXLAN packet that encapsulates it is masqueraded again). patched
 * (kubernetes/kubernetes#92035): RETURN unless marked, clear the mark with an xor, then MASQUERADE.
 */
export function kubePostroutingShape(read: RulesetRead): KubePostrouting {
  if (read.text === null || read.tool.startsWith('nft')) return null;
  const rules = parseIptablesSave(read.text).filter((r) => r.table === 'nat' && r.chain === 'KUBE-POSTROUTING');
  const masq = rules.findIndex((r) => targetOf(r.spec) === 'MASQUERADE');
  if (masq < 0) return null;
  const before = rules.slice(0, masq);
  // iptables-save prints --xor-mark M as --set-xmark M/0x0.
  const clears = before.some((r) => targetOf(r.spec) === 'MARK' && new RegExp(`--(?:set-xmark ${MARK}/0x0|xor-mark ${MARK})\\b`).test(r.spec));
  if (clears) return { shape: 'patched', rules, tool: read.tool };
  const masqRule = rules[masq] as SavedRule;
  const marked = new RegExp(`(?<!! )--mark ${MARK}/${MARK}\\b`).test(masqRule.spec);
  const returnsUnmarked = before.some((r) => targetOf(r.spec) === 'RETURN' && new RegExp(`! --mark ${MARK}/${MARK}`).test(r.spec));
  if (!marked && !returnsUnmarked) return null;
  return { shape: 'legacy', rules, fullyRandom: /\s--random-fully\b/.test(masqRule.spec), tool: read.tool };
}

function worst(kernel: readonly FixAssessment[]): FixAssessment | null {
  const rows = kernel.filter((k) => k.race === 'vxlan');
  return rows.find((k) => k.status === 'absent') ?? rows.find((k) => k.status === 'uncertain') ?? rows.find((k) => k.status === 'unknown') ?? rows[0] ?? null;
}

/** The most severe a vxlan-double-snat finding can be on this kernel (what an unread rule set or device list hides). */
export function vxlanWorstSeverity(kernel: readonly FixAssessment[]): Severity {
  return worst(kernel)?.status === 'present' ? 'low' : 'high';
}

/**
 * vxlan-double-snat: the legacy chain on a node that has a VXLAN device, one finding per device. How bad it is
 * depends on the kernel's zero-checksum fix, the MASQUERADE flag (a new outer source port needs the checksum
 * rewritten) and the device's tx checksum offload. The patched chain is not a finding.
 */
export function vxlanDoubleSnatFindings(reads: readonly RulesetRead[], devices: readonly VxlanDevice[], kernel: readonly FixAssessment[]): Finding[] {
  const legacy = reads.map(kubePostroutingShape).find((s) => s?.shape === 'legacy');
  if (!legacy || legacy.shape !== 'legacy' || devices.length === 0) return [];
  const fix = worst(kernel);
  const fixed = fix?.status === 'present';
  return devices.map((d): Finding => {
    const txOn = d.txChecksumming === 'on';
    const severity: Severity = fixed ? 'low' : legacy.fullyRandom && txOn ? 'high' : 'medium';
    const device = `${d.name}: vxlan port ${d.port ?? '?'}, outer UDP checksum ${d.udpCsum === null ? '?' : d.udpCsum ? 'on' : 'off (0)'}, tx-checksumming ${d.txChecksumming ?? `unknown (${d.ethtoolError ?? 'not read'})`}`;
    const consequence = fixed
      ? 'This kernel leaves a zero UDP checksum alone, so the second SNAT no longer corrupts the outer packet; the double SNAT itself remains (an extra conntrack entry and port per flow).'
      : `This kernel ${fix ? `may lack the zero-checksum fix (${fix.status}: ${fix.basis})` : 'was not assessed'}: ${legacy.fullyRandom ? 'with --random-fully the outer source port changes and the NAT rewrites the zero checksum wrongly' : 'when the outer port has to change the NAT rewrites the zero checksum wrongly'}${txOn ? '; with tx checksum offload on, the device and the NIC pass the bad checksum and the receiver drops the packet: host-to-pod connects stall 1 s, 3 s ... 63 s' : '; tx checksum offload is off, which avoids the drops at some CPU cost'}.`;
    return {
      id: 'vxlan-double-snat',
      severity,
      subject: d.name,
      title: `kube-proxy's legacy KUBE-POSTROUTING masquerades VXLAN traffic twice on ${d.name}`,
      evidence: [...legacy.rules.map((r) => `${legacy.tool}: ${r.line}`), device, ...(fix ? [`kernel: ${fix.change}: ${fix.status} (${fix.basis})`] : [])],
      why: `The chain masquerades packets marked 0x4000 and never clears the mark, so a host-network client's packet to a pod is masqueraded once and its VXLAN encapsulation a second time. ${consequence}`,
      fix: `use a kube-proxy that writes the patched chain (RETURN unless marked, MARK --xor-mark 0x4000, then MASQUERADE; kubernetes/kubernetes#92035)${fixed ? '' : `; until then ethtool -K ${d.name} tx off`}`,
    };
  });
}
