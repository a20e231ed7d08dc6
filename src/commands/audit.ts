import type { Argv } from 'yargs';
import { resolveTargets, type TargetArgs } from '../node/targets.js';
import { auditFindings, renderAudit, type AuditReport } from '../node/audit/audit.js';
import { collectAuditFacts } from '../node/audit/collect.js';
import { failLine } from './cliVoice.js';
import { SEVERITIES, failing, type Severity } from '../node/audit/findings.js';

export interface AuditArgs extends TargetArgs {
  json: boolean;
  failOn: Severity | 'never';
}

/** `repro audit`: read the namespace, print the findings; 1 when one is at or above --fail-on. Changes nothing. */
export async function auditCommand(a: AuditArgs): Promise<number> {
  const [ns] = await resolveTargets(a, { single: true });
  if (!ns) throw new Error('no namespace to audit');
  const facts = await collectAuditFacts(ns);
  const report: AuditReport = { netns: facts.netns, kernel: facts.kernelRelease, findings: auditFindings(facts) };
  process.stdout.write(a.json ? JSON.stringify(report, null, 2) + '\n' : renderAudit(report));
  const failed = failing(report.findings, a.failOn);
  if (failed.length === 0) return 0;
  (a.json ? process.stderr : process.stdout).write(failLine(`--fail-on ${a.failOn}`, failed.map((f) => `${f.severity} ${f.id}${f.subject ? ` (${f.subject})` : ''}`)) + '\n');
  return 1;
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
        .option('json', { type: 'boolean', default: false, describe: 'print {netns, kernel, findings: [{id, severity, subject, title, evidence, why, fix}]} as JSON' })
        .option('fail-on', { type: 'string', choices: [...SEVERITIES, 'never'], default: 'high', describe: 'exit 1 when a finding is at least this severe' }),
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
