import type { FixAssessment } from '../../analysis/kernelFixes.js';
import type { ResolverConfig } from '../../host/resolvers.js';
import type { Finding, Severity } from './findings.js';

export interface ResolvConfFacts {
  nameservers: string[];
  options: string[];
}

/** nameserver and options lines of a resolv.conf (later options lines add to earlier ones). Pure. */
export function parseResolvConf(text: string): ResolvConfFacts {
  const nameservers: string[] = [];
  const options: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) nameservers.push(rest[0]);
    if (key === 'options') options.push(...rest);
  }
  return { nameservers, options };
}

/** Options that make glibc send a lookup's queries one at a time (res_send.c, send_dg) or over TCP. */
const SEQUENTIAL = ['single-request', 'single-request-reopen', 'use-vc'];

export type QueryPattern = 'parallel-one-socket' | 'sequential' | 'tcp' | 'unknown';

/**
 * How a lookup's A and AAAA queries leave. glibc: back to back from one UDP socket unless single-request (one after
 * the other), single-request-reopen (one after the other, a new socket for the second) or use-vc (TCP). musl sends
 * them in parallel from one socket and reads only ndots, timeout and attempts from options (resolvconf.c).
 */
export function queryPattern(libc: ResolverConfig['libc'], options: readonly string[]): { pattern: QueryPattern; note: string } {
  const set = options.filter((o) => SEQUENTIAL.includes(o));
  if (libc === 'musl') {
    return { pattern: 'parallel-one-socket', note: `musl: parallel from one socket${set.length > 0 ? `; ignores ${set.join(', ')}` : ''}` };
  }
  if (libc === 'unknown') return { pattern: 'unknown', note: 'C library not recognised (static or non-C resolver): its own behaviour' };
  if (set.includes('use-vc')) return { pattern: 'tcp', note: 'glibc: use-vc, queries over TCP' };
  if (set.length > 0) return { pattern: 'sequential', note: `glibc: ${set.join(', ')}: one query after the other` };
  return { pattern: 'parallel-one-socket', note: 'glibc: A and AAAA back to back from one socket' };
}

function describe(r: ResolverConfig, facts: ResolvConfFacts, note: string): string {
  const opts = facts.options.length > 0 ? `options ${facts.options.join(' ')}` : 'no options';
  return `${r.where}: ${r.path}: nameserver ${facts.nameservers.join(', ') || '(none: 127.0.0.1)'}; ${opts} (${note})`;
}

/**
 * dns-parallel-queries: the resolv.conf files whose lookups send A and AAAA in parallel from one socket (one
 * finding per C library, listing each file), and the ones whose resolver could not be told. How bad it is depends
 * on the kernel's UDP clash resolution (kernelFixes.ts rows of the dns race).
 */
export function dnsFindings(resolvers: readonly ResolverConfig[], kernel: readonly FixAssessment[]): Finding[] {
  const missing = kernel.filter((k) => k.race === 'dns' && k.status !== 'present');
  const severity = dnsSeverity(kernel);
  const kernelNote =
    missing.length === 0
      ? 'This kernel resolves such clashes (they count as clashres, not drops), so lookups should not stall here; they still do on older kernels and through paths the resolution does not cover.'
      : `This kernel ${missing.map((k) => `${k.status === 'absent' ? 'lacks' : 'may lack'} ${k.change}`).join('; ')}: ${missing.map((k) => k.meaning).join('; ')}.`;
  const groups = new Map<string, string[]>();
  for (const r of resolvers) {
    if (r.text === null) continue;
    const facts = parseResolvConf(r.text);
    const { pattern, note } = queryPattern(r.libc, facts.options);
    if (pattern === 'sequential' || pattern === 'tcp') continue;
    const key = pattern === 'unknown' ? 'unknown' : r.libc;
    groups.set(key, [...(groups.get(key) ?? []), describe(r, facts, note)]);
  }
  const out: Finding[] = [];
  for (const [key, evidence] of groups) {
    if (key === 'unknown') {
      out.push({
        id: 'dns-parallel-queries',
        severity: 'info',
        subject: 'unknown resolver',
        title: `${evidence.length} resolv.conf file${evidence.length > 1 ? 's' : ''} read by a resolver repro does not recognise`,
        evidence,
        why: 'Programs that bring their own resolver (Go, static binaries) decide themselves whether A and AAAA leave in parallel.',
        fix: "check the program's resolver; a node-local DNS cache without conntrack (NOTRACK) avoids the race for every resolver",
      });
      continue;
    }
    const musl = key === 'musl';
    out.push({
      id: 'dns-parallel-queries',
      severity,
      subject: key,
      title: `A and AAAA queries leave in parallel from one socket (${key}): ${evidence.length} resolv.conf file${evidence.length > 1 ? 's' : ''}`,
      evidence,
      why: `Both queries of a lookup create a conntrack entry before either is confirmed; through a NAT or a service VIP the second can lose the race and be dropped, and the lookup waits for the resolver timeout (5 s). ${kernelNote}`,
      fix: musl
        ? 'musl ignores single-request and use-vc: use a glibc-based image, or a node-local DNS cache without conntrack (NOTRACK)'
        : 'options single-request-reopen (or single-request, or use-vc) in resolv.conf (Kubernetes: dnsConfig.options), or a node-local DNS cache without conntrack (NOTRACK)',
    });
  }
  return out;
}

/** How severe dns-parallel-queries is on this kernel: medium while a UDP clash fix is missing or may be. */
export function dnsSeverity(kernel: readonly FixAssessment[]): Severity {
  return kernel.some((k) => k.race === 'dns' && k.status !== 'present') ? 'medium' : 'low';
}

/** file-unreadable for each resolv.conf that could not be read, at the severity of the finding it hides (`hides`). */
export function resolverUnreadable(resolvers: readonly ResolverConfig[], hides: Severity): Finding[] {
  return resolvers
    .filter((r) => r.text === null)
    .map((r) => ({
      id: 'file-unreadable' as const,
      severity: hides,
      subject: r.path,
      title: `${r.path} (${r.where}) could not be read: its DNS behaviour was not checked`,
      evidence: [r.error ?? 'not read'],
      why: 'The lookups that use this file were left out of dns-parallel-queries.',
      fix: 'run repro audit as root with access to /proc/<pid>/root (hostPID and CAP_SYS_PTRACE in a pod)',
    }));
}
