import { assessKernel, kernelVersionWithSource } from '../../analysis/kernelFixes.js';
import type { KernelVersion } from '../../types.js';
import type { AuditFacts } from './collect.js';
import { conntrackCounterFindings, statsUnreadableFindings, tablePressureFindings } from './conntrackFindings.js';
import { dnsFindings, dnsSeverity, resolverUnreadable } from './dnsFindings.js';
import { severityRank, sortFindings, type Finding, type Severity } from './findings.js';
import { kernelFindings } from './kernelFindings.js';
import { masqueradeFindings, raceFrequency, rulesetUnreadable } from './masquerade.js';
import { synScheduleFindings } from './synScheduleFinding.js';
import { vxlanDoubleSnatFindings, vxlanWorstSeverity } from './vxlanDoubleSnat.js';
import { SYSCTL, VXLAN_READ } from './collect.js';

const worse = (a: Severity, b: Severity): Severity => (severityRank(a) <= severityRank(b) ? a : b);

/**
 * What each file or command read hides when it fails, on this kernel: the most severe finding it feeds. The
 * conntrack table sysctls feed conntrack-table-pressure (high when the table is nearly full).
 */
function hiddenBy(path: string, kernel: ReturnType<typeof assessKernel>): { severity: Severity; finding: string } {
  if (path === SYSCTL.count || path === SYSCTL.max || path === SYSCTL.buckets) return { severity: 'high', finding: 'conntrack-table-pressure' };
  if (path === VXLAN_READ) return { severity: vxlanWorstSeverity(kernel), finding: 'vxlan-double-snat' };
  return { severity: 'info', finding: 'syn-schedule' };
}

/** file-unreadable for each file or command read that failed (resolv.conf files have their own). */
function unreadableFindings(unreadable: Record<string, string>, kernel: ReturnType<typeof assessKernel>): Finding[] {
  return Object.entries(unreadable).map(([path, why]) => {
    const hidden = hiddenBy(path, kernel);
    return {
      id: 'file-unreadable',
      severity: hidden.severity,
      subject: path,
      title: `${path} could not be read`,
      evidence: [why],
      why: `The findings that need it were left out or assume a default: ${hidden.finding} (up to ${hidden.severity} here).`,
      fix: 'run repro audit as root in the namespace to audit',
    };
  });
}

/** Every rule over the facts of one namespace, most severe first. Pure. */
export function auditFindings(f: AuditFacts): Finding[] {
  const kernel = assessKernel(f.kernelVersion);
  // An unread rule set hides MASQUERADE findings and the VXLAN double SNAT: it is as severe as the worse of them.
  const rulesHide = worse(raceFrequency(kernel).severity, vxlanWorstSeverity(kernel));
  return sortFindings([
    ...masqueradeFindings(f.rulesets, kernel),
    ...rulesetUnreadable(f.rulesets, rulesHide),
    ...vxlanDoubleSnatFindings(f.rulesets, f.vxlan.devices, kernel),
    ...kernelFindings(f.kernelRelease, f.kernelVersion, kernel),
    ...dnsFindings(f.resolvers, kernel),
    ...resolverUnreadable(f.resolvers, dnsSeverity(kernel)),
    ...('reading' in f.conntrack ? conntrackCounterFindings(f.netns, f.conntrack.reading) : statsUnreadableFindings(f.netns, f.conntrack.reasons)),
    ...tablePressureFindings(f.netns, f.table),
    ...synScheduleFindings(f.syn),
    ...unreadableFindings(f.unreadable, kernel),
  ]);
}

export interface AuditReport {
  netns: string;
  /** `uname -r`. */
  kernel: string;
  kernelVersion: KernelVersion;
  findings: Finding[];
}

export function renderAudit(r: AuditReport): string {
  const counts = (['high', 'medium', 'low', 'info'] as const).map((s) => `${r.findings.filter((f) => f.severity === s).length} ${s}`).join(', ');
  const lines = [`repro audit: ${r.netns} (kernel ${r.kernel}, upstream ${kernelVersionWithSource(r.kernelVersion)}): ${r.findings.length} findings: ${counts}`, ''];
  for (const f of r.findings) {
    lines.push(`${f.severity.toUpperCase().padEnd(6)}  ${f.id}  ${f.title}`);
    for (const e of f.evidence) lines.push(`        | ${e}`);
    lines.push(`        why: ${f.why}`, `        fix: ${f.fix}`, '');
  }
  return lines.join('\n');
}
