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

/** Findings that say an input could not be read: what they stand for was not looked at. */
const COULD_NOT_LOOK: readonly FindingId[] = ['ruleset-unreadable', 'file-unreadable', 'conntrack-stats-unreadable'];

/**
 * --fail-on as an exit code: 2 when an input the gate needs could not be read (its finding is at or above the
 * threshold: what it hides could be), with one line saying so; 1 when a finding is at or above it; else 0.
 */
export function gateOutcome(findings: readonly Finding[], failOn: Severity | 'never'): { code: 0 | 1 | 2; line: string | null } {
  const over = failing(findings, failOn);
  const blind = over.filter((f) => COULD_NOT_LOOK.includes(f.id));
  if (blind.length > 0) {
    const what = blind.map((f) => f.subject || f.id).join(', ');
    return { code: 2, line: `repro: audit cannot pass --fail-on ${failOn}: ${blind.length} input${blind.length > 1 ? 's' : ''} could not be read (${what}), so findings at that severity may be hidden: run it as root in the namespace to audit` };
  }
  return { code: over.length > 0 ? 1 : 0, line: null };
}

/** Most severe first; ties in id, then subject order, so output is stable. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || a.id.localeCompare(b.id) || a.subject.localeCompare(b.subject));
}
