import { assessKernel } from '../../analysis/kernelFixes.js';
import type { AuditFacts } from './collect.js';
import { conntrackCounterFindings, statsUnreadableFindings, tablePressureFindings } from './conntrackFindings.js';
import { dnsFindings, resolverUnreadable } from './dnsFindings.js';
import { sortFindings, type Finding } from './findings.js';
import { kernelFindings } from './kernelFindings.js';
import { masqueradeFindings, rulesetUnreadable } from './masquerade.js';
import { synScheduleFindings } from './synScheduleFinding.js';
import { vxlanDoubleSnatFindings } from './vxlanDoubleSnat.js';

/** file-unreadable for each file or command read that failed (resolv.conf files have their own). */
function unreadableFindings(unreadable: Record<string, string>): Finding[] {
  return Object.entries(unreadable).map(([path, why]) => ({
    id: 'file-unreadable',
    severity: 'low',
    subject: path,
    title: `${path} could not be read`,
    evidence: [why],
    why: 'The findings that need it were left out or assume a default.',
    fix: 'run repro audit as root in the namespace to audit',
  }));
}

/** Every rule over the facts of one namespace, most severe first. Pure. */
export function auditFindings(f: AuditFacts): Finding[] {
  const kernel = assessKernel(f.kernelVersion);
  return sortFindings([
    ...masqueradeFindings(f.rulesets, kernel),
    ...rulesetUnreadable(f.rulesets),
    ...vxlanDoubleSnatFindings(f.rulesets, f.vxlan.devices, kernel),
    ...kernelFindings(f.kernelRelease, kernel),
    ...dnsFindings(f.resolvers, kernel),
    ...resolverUnreadable(f.resolvers),
    ...('reading' in f.conntrack ? conntrackCounterFindings(f.netns, f.conntrack.reading) : statsUnreadableFindings(f.netns, f.conntrack.reasons)),
    ...tablePressureFindings(f.netns, f.table),
    ...synScheduleFindings(f.syn),
    ...unreadableFindings(f.unreadable),
  ]);
}

export interface AuditReport {
  netns: string;
  kernel: string;
  findings: Finding[];
}

export function renderAudit(r: AuditReport): string {
  const counts = (['high', 'medium', 'low', 'info'] as const).map((s) => `${r.findings.filter((f) => f.severity === s).length} ${s}`).join(', ');
  const lines = [`repro audit: ${r.netns} (kernel ${r.kernel}): ${r.findings.length} findings: ${counts}`, ''];
  for (const f of r.findings) {
    lines.push(`${f.severity.toUpperCase().padEnd(6)}  ${f.id}  ${f.title}`);
    for (const e of f.evidence) lines.push(`        | ${e}`);
    lines.push(`        why: ${f.why}`, `        fix: ${f.fix}`, '');
  }
  return lines.join('\n');
}
