import type { Argv } from 'yargs';
import { resolveTargets, type TargetArgs } from '../node/targets.js';
import { auditFindings, renderAudit, type AuditReport } from '../node/audit/audit.js';
import { hostname } from 'node:os';
import { collectAuditFacts, type AuditFacts } from '../node/audit/collect.js';
import { harnessVersion } from '../host/environment.js';
import { failLine } from './cliVoice.js';
import { SEVERITIES, failing, gateOutcome, type Severity } from '../node/audit/findings.js';

export interface AuditArgs extends TargetArgs {
  json: boolean;
  failOn: Severity | 'never';
}

export const AUDIT_SCHEMA = 'repro/audit@1';

/** A sysctl's text as a number, or null (absent, unreadable, not a number). */
const numberOf = (v: string | null): number | null => (v !== null && /^\d+$/.test(v) ? Number(v) : null);

/**
 * `audit --json`: the report with what a ticket or a fleet query needs around it (schema, version, host, time),
 * the counts by severity, and the figures read as numbers (table fill, SYN retries, conntrack counters).
 */
export function auditJson(report: AuditReport, facts: AuditFacts, at: { version: string; host: string; time: Date }): object {
  const counters: Record<string, number> = {};
  if ('reading' in facts.conntrack) {
    const stat = facts.conntrack.reading.stat;
    for (const c of stat.columns) counters[c] = c === 'entries' ? (stat.rows[0]?.[c] ?? 0) : stat.rows.reduce((s, r) => s + (r[c] ?? 0), 0);
  }
  return {
    schema: AUDIT_SCHEMA,
    version: at.version,
    host: at.host,
    time: at.time.toISOString(),
    netns: report.netns,
    kernel: report.kernel,
    kernelVersion: report.kernelVersion,
    counts: Object.fromEntries(SEVERITIES.map((s) => [s, report.findings.filter((f) => f.severity === s).length])),
    figures: {
      conntrackTable: facts.table,
      tcpSynRetries: numberOf(facts.syn.retries),
      tcpSynLinearTimeouts: numberOf(facts.syn.linear),
      conntrackCounters: 'reading' in facts.conntrack ? { source: facts.conntrack.reading.source, ...counters } : null,
    },
    findings: report.findings,
  };
}

/**
 * `repro audit`: read the namespace, print the findings; 1 when one is at or above --fail-on, 2 when an input it
 * gates on could not be read (one line on stderr). Changes nothing.
 */
export async function auditCommand(a: AuditArgs): Promise<number> {
  const [ns] = await resolveTargets(a, { single: true });
  if (!ns) throw new Error('no namespace to audit');
  const facts = await collectAuditFacts(ns);
  const report: AuditReport = { netns: facts.netns, kernel: facts.kernelRelease, kernelVersion: facts.kernelVersion, findings: auditFindings(facts) };
  const json = a.json ? auditJson(report, facts, { version: await harnessVersion(), host: hostname(), time: new Date() }) : null;
  process.stdout.write(json ? JSON.stringify(json, null, 2) + '\n' : renderAudit(report));
  const gate = gateOutcome(report.findings, a.failOn);
  if (gate.line !== null) process.stderr.write(`${gate.line}\n`);
  else if (gate.code === 1) {
    const failed = failing(report.findings, a.failOn).map((f) => `${f.severity} ${f.id}${f.subject ? ` (${f.subject})` : ''}`);
    (a.json ? process.stderr : process.stdout).write(failLine(`--fail-on ${a.failOn}`, failed) + '\n');
  }
  return gate.code;
}

/** Registers `audit` on the CLI; setExit receives its exit code. */
export function registerAuditCommand<T>(y: Argv<T>, setExit: (code: number) => void): Argv<T> {
  return y.command(
    'audit',
    "is this node exposed to the conntrack/NAT races, and to what: findings with stable ids from its rules, kernel, resolv.conf files and counters (read only)",
    (a) =>
      a
        .option('netns', { type: 'string', describe: 'audit this named network namespace (ip netns list) instead of the one repro runs in' })
        .option('pid', { type: 'number', describe: "audit this process's network namespace (and its root's resolv.conf)" })
        .option('container', { type: 'string', describe: "audit this container's network namespace (docker or crictl id or name)" })
        .option('json', { type: 'boolean', default: false, describe: `print {schema: ${AUDIT_SCHEMA}, version, host, time, netns, kernel, counts, figures, findings: [{id, severity, subject, title, evidence, why, fix}]} as JSON` })
        .option('fail-on', { type: 'string', choices: [...SEVERITIES, 'never'], default: 'high', describe: 'exit 1 when a finding is at least this severe (2 when an input it gates on could not be read)' }),
    async (argv) => {
      setExit(
        await auditCommand({
          netns: argv.netns,
          pid: argv.pid,
          container: argv.container,
          json: argv.json,
          failOn: argv['fail-on'] as Severity | 'never',
        }),
      );
    },
  ) as unknown as Argv<T>;
}
