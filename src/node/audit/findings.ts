/**
 * What `repro audit` reports. Ids are stable (CI and dashboards key on them); several findings may share one id
 * (one per rule, per device ...), told apart by `subject`.
 */
export type Severity = 'high' | 'medium' | 'low' | 'info';

export const SEVERITIES: readonly Severity[] = ['high', 'medium', 'low', 'info'];

export type FindingId =
  | 'masquerade-without-random-fully'
  | 'vxlan-double-snat'
  | 'kernel-missing-fix'
  | 'dns-parallel-queries'
  | 'conntrack-counters'
  | 'conntrack-table-pressure'
  | 'conntrack-stats-unreadable'
  | 'syn-schedule'
  | 'ruleset-unreadable'
  | 'file-unreadable';

export interface Finding {
  id: FindingId;
  severity: Severity;
  /** What the finding is about (a chain and rule, a device, a file); empty when the id occurs once. */
  subject: string;
  title: string;
  /** Exact lines as read (rules as written, counter values, file lines). */
  evidence: string[];
  why: string;
  fix: string;
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** --fail-on: the findings at or above the threshold (none for never). */
export function failing(findings: readonly Finding[], failOn: Severity | 'never'): Finding[] {
  if (failOn === 'never') return [];
  return findings.filter((f) => severityRank(f.severity) <= severityRank(failOn));
}

/** Most severe first; ties in id, then subject order, so output is stable. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || a.id.localeCompare(b.id) || a.subject.localeCompare(b.subject));
}
