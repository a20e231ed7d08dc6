import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffResults } from '../../src/analysis/diff.js';
import { assessKernel, type FixStatus } from '../../src/analysis/kernelFixes.js';
import { upstreamKernelVersion } from '../../src/host/kernelVersion.js';
import { auditFindings } from '../../src/node/audit/audit.js';
import type { AuditFacts } from '../../src/node/audit/collect.js';
import { gateOutcome } from '../../src/node/audit/findings.js';
import { kernelFindings } from '../../src/node/audit/kernelFindings.js';
import { masqueradeFindings, ownerOf } from '../../src/node/audit/masquerade.js';
import { insertFailedReading } from '../../src/node/watch/watch.js';
import { renderDiff } from '../../src/report/diffText.js';
import { loadResultFile } from '../../src/report/loadResults.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { kernelLine } from '../../src/report/reportModel.js';
import type { KernelVersion } from '../../src/types.js';
import { DISTRO_KERNELS, fromUname } from './fixtures/distroKernels.js';
import { makeResult } from './fixtures/results.js';

const distro = (prefix: string): KernelVersion => {
  const k = DISTRO_KERNELS.find((d) => d.distro.startsWith(prefix));
  if (!k) throw new Error(`no fixture ${prefix}`);
  return upstreamKernelVersion(k.inputs);
};
const status = (k: KernelVersion, id: string): FixStatus | undefined => assessKernel(k).find((f) => f.id === id)?.status;

describe('the upstream version of distribution kernels (fixtures: published strings, test/unit/fixtures/distroKernels.ts)', () => {
  it.each(DISTRO_KERNELS.map((k) => [k.distro, k] as const))('%s', (_name, k) => {
    expect(k.source.length).toBeGreaterThan(20);
    expect(upstreamKernelVersion(k.inputs)).toEqual(k.expected);
  });

  it('covers Debian 10-13, Ubuntu 18.04-24.04, RHEL 8/9 and Amazon Linux 2/2023', () => {
    const names = DISTRO_KERNELS.map((k) => k.distro).join('\n');
    for (const d of ['Debian 10', 'Debian 11', 'Debian 12', 'Debian 13', 'Ubuntu 18.04', 'Ubuntu 20.04', 'Ubuntu 22.04', 'Ubuntu 24.04', 'RHEL 8', 'RHEL 9', 'Amazon Linux 2\n', 'Amazon Linux 2023']) {
      expect(`${names}\n`).toContain(d);
    }
  });

  it('a source about another series is ignored; mainline and rc releases are exact; hostile input is bounded', () => {
    // A signature that does not match the running kernel's series (a copied /proc, another kernel): uname decides.
    expect(upstreamKernelVersion({ release: '6.1.0-57-amd64', versionSignature: 'Ubuntu 5.4.0-150.167-generic 5.4.233' })).toEqual({ version: '6.1', source: 'uname', exact: false });
    expect(upstreamKernelVersion({ release: '6.8.0' })).toEqual({ version: '6.8.0', source: 'uname', exact: true });
    expect(upstreamKernelVersion({ release: '6.8.0-rc3' })).toEqual({ version: '6.8.0', source: 'uname', exact: true });
    expect(upstreamKernelVersion({ release: '6.18.44-fc-v1300' })).toEqual({ version: '6.18.44', source: 'uname', exact: true });
    expect(upstreamKernelVersion({ release: '6.1.0-57-amd64', procVersion: `${'x'.repeat(10_000)} #1 SMP Debian 6.1.192-3` })).toEqual({ version: '6.1', source: 'uname', exact: false });
    expect(upstreamKernelVersion({ release: '6.1.0-57-amd64', debPackageVersion: '6.1~rc4-1~exp1' })).toEqual({ version: '6.1', source: 'uname', exact: false });
    expect(upstreamKernelVersion({ release: 'x'.repeat(500) }).version).toHaveLength(64);
  });
});

describe('known changes on distribution kernels: unknown, never absent, without the sublevel', () => {
  it("Debian 10's 4.19.0-20-amd64 is 4.19.235: the bounded port search (4.19.228) is present", () => {
    expect(status(distro('Debian 10 (buster)'), 'port-search-random')).toBe('present');
    // 4.19.160 (a real buster /proc/version) predates 4.19.228: absent there, for real.
    expect(status(distro('Debian 10 (buster), a whole'), 'port-search-random')).toBe('absent');
  });

  it('uname -r alone: the changes backported to the series in a stable release are unknown', () => {
    const k = distro('Debian 10, a uname without');
    const a = assessKernel(k);
    const unknown = a.filter((f) => f.status === 'unknown').map((f) => f.id);
    // 4.19 stable got these three (KNOWN_FIXES backports); their presence depends on the sublevel.
    expect(unknown).toEqual(['port-search-random', 'udp-clash-same-origin', 'udp-zero-checksum']);
    expect(a.find((f) => f.id === 'port-search-random')?.basis).toMatch(/backported in 4\.19\.228: whether this 4\.19 kernel has it depends on its sublevel, which uname -r does not give/);
    // No backport to 4.19 at all: absent whatever the sublevel.
    expect(status(k, 'clashres-counter')).toBe('absent');
    expect(status(k, 'udp-clash-same-tuple')).toBe('present');
  });

  it('RHEL keeps what it cannot tell unknown or absent by series, never from a placeholder', () => {
    expect(assessKernel(distro('RHEL 8')).some((f) => f.basis.includes('4.18.0'))).toBe(false);
    expect(status(distro('RHEL 9'), 'udp-clash-insert')).toBe('present');
    expect(status(distro('Ubuntu 20.04 (focal)'), 'udp-zero-checksum')).toBe('absent');
    expect(status(distro('Ubuntu 20.04 (focal), a later'), 'udp-zero-checksum')).toBe('present');
  });

  it('"carries N of M" names the version and never counts an unknown change as lacking', () => {
    expect(kernelLine(distro('Debian 12 (bookworm), the version string'))).toBe(
      'kernel 6.1.192 carries 6 of 9 known conntrack/NAT changes; lacks: clash-reverse-direction, evict-closing-tcp, syn-linear-timeouts',
    );
    const line = kernelLine(distro('Debian 10, a uname without'));
    expect(line).toMatch(/^kernel 4\.19\.x carries at least 1 of 9 known conntrack\/NAT changes; lacks: /);
    expect(line).toContain('unknown without the sublevel: port-search-random, udp-clash-same-origin, udp-zero-checksum');
    expect(line.split('lacks: ')[1]?.split(';')[0]).not.toContain('port-search-random');
  });
});

const DOCKER_MASQ = '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE';

function facts(release: string, kernelVersion: KernelVersion, over: Partial<AuditFacts> = {}): AuditFacts {
  return {
    netns: 'host',
    kernelRelease: release,
    kernelVersion,
    rulesets: [{ tool: 'iptables-nft-save', text: `# Generated by iptables-nft-save v1.8.9 (nf_tables)\n*nat\n${DOCKER_MASQ}\nCOMMIT\n`, error: null }],
    vxlan: { devices: [], error: null },
    conntrack: { reading: { stat: { columns: ['insert_failed', 'drop'], rows: [{ insert_failed: 0, drop: 0 }] }, source: 'procfs' } },
    table: { count: 10, max: 1000, buckets: 100 },
    syn: { retries: '6', linear: '4' },
    resolvers: [],
    unreadable: {},
    ...over,
  };
}

describe('audit on a distribution kernel', () => {
  it('Debian 10 read from /proc/version: no HIGH "the race is frequent here", no missing port search', () => {
    const f = auditFindings(facts('4.19.0-20-amd64', distro('Debian 10 (buster)')));
    expect(f.find((x) => x.id === 'masquerade-without-random-fully')?.severity).toBe('medium');
    expect(f.filter((x) => x.id === 'kernel-missing-fix').map((x) => x.subject)).not.toContain('port-search-random');
  });

  it('uname -r only: the port search is unknown (low), the MASQUERADE finding medium, never high', () => {
    const k = distro('Debian 10, a uname without');
    const f = auditFindings(facts('4.19.0-20-amd64', k));
    expect(f.find((x) => x.id === 'masquerade-without-random-fully')?.severity).toBe('medium');
    const search = kernelFindings('4.19.0-20-amd64', k, assessKernel(k)).find((x) => x.subject === 'port-search-random');
    expect(search?.severity).toBe('low');
    expect(search?.title).toMatch(/^kernel 4\.19\.0-20-amd64 may lack: /);
    expect(search?.evidence).toEqual(['uname -r: 4.19.0-20-amd64', 'upstream version: 4.19.x (sublevel unknown: uname -r does not give it)', expect.stringMatching(/^unknown: /)]);
  });

  it('a kernel that really lacks the port search still gets HIGH', () => {
    const f = auditFindings(facts('4.19.0-13-amd64', distro('Debian 10 (buster), a whole')));
    expect(f.find((x) => x.id === 'masquerade-without-random-fully')?.severity).toBe('high');
  });
});

describe("watch's kernel note on a distribution kernel", () => {
  it('says "may lack" for a change the version cannot tell, "lacks" for one it can', () => {
    const unknown = insertFailedReading('host', { insert_failed: 1 }, ['insert_failed', 'drop'], assessKernel(distro('Debian 10, a uname without'))) ?? '';
    expect(unknown).toContain('may lack udp-clash-same-origin');
    expect(unknown).not.toMatch(/\blacks udp-clash-same-origin/);
    const known = insertFailedReading('host', { insert_failed: 1 }, ['insert_failed', 'drop'], assessKernel(fromUname('4.19.20'))) ?? '';
    expect(known).toContain('lacks udp-clash-same-origin');
  });
});

describe('audit: Cilium, and a gate that could not look', () => {
  it("Cilium's CILIUM_POST_nat is a known owner, with its own random-fully setting", () => {
    expect(ownerOf('CILIUM_POST_nat', '-s 10.0.0.0/8 ! -d 10.0.0.0/8 ! -o cilium_+ -m comment --comment "cilium masquerade non-cluster" -j MASQUERADE')).toBe('Cilium');
    const read = { tool: 'iptables-nft-save' as const, text: '*nat\n-A CILIUM_POST_nat -s 10.0.0.0/8 ! -o cilium_+ -m comment --comment "cilium masquerade non-cluster" -j MASQUERADE\nCOMMIT\n', error: null };
    const f = masqueradeFindings([read], assessKernel(fromUname('6.18.44')))[0];
    expect(f?.title).toBe('MASQUERADE without --random-fully in nat/CILIUM_POST_nat (Cilium)');
    expect(f?.fix).toMatch(/iptablesRandomFully: true/);
  });

  const unreadableRules = (k: KernelVersion): AuditFacts =>
    facts('6.18.44', k, {
      rulesets: [
        { tool: 'iptables-nft-save', text: null, error: 'iptables-nft-save exited 4: iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)' },
        { tool: 'nft -j list ruleset', text: null, error: 'nft exited 1: Operation not permitted' },
      ],
    });

  it('rules that could not be read stand at the severity of the MASQUERADE finding they hide, and --fail-on medium exits 2 saying why', () => {
    const f = auditFindings(unreadableRules(fromUname('6.18.44')));
    expect(f.filter((x) => x.id === 'ruleset-unreadable').map((x) => x.severity)).toEqual(['medium', 'medium']);
    const gate = gateOutcome(f, 'medium');
    expect(gate.code).toBe(2);
    expect(gate.line).toBe(
      'repro: audit cannot pass --fail-on medium: 2 inputs could not be read (iptables-nft-save, nft -j list ruleset), so findings at that severity may be hidden: run it as root in the namespace to audit',
    );
    expect(gateOutcome(f, 'never')).toEqual({ code: 0, line: null });
    // On a kernel without the bounded port search a hidden MASQUERADE is high: so is the unread rule set.
    expect(auditFindings(unreadableRules(fromUname('4.19.100'))).filter((x) => x.id === 'ruleset-unreadable').map((x) => x.severity)).toEqual(['high', 'high']);
  });

  it('every input that can be unreadable is gated: resolv.conf files, table sysctls, vxlan devices, conntrack stats', () => {
    const k = fromUname('6.18.44');
    const f = auditFindings(
      facts('6.18.44', k, {
        resolvers: [{ where: 'container aaa (app)', path: '/proc/77/root/etc/resolv.conf', text: null, error: 'EACCES: permission denied', libc: 'glibc' }],
        unreadable: { '/proc/sys/net/netfilter/nf_conntrack_count': 'EACCES', 'ip -d link show type vxlan': 'exit 1', '/proc/sys/net/ipv4/tcp_syn_retries': 'EACCES' },
        conntrack: { reasons: { procfs: 'EACCES', netlink: 'Operation not permitted' } },
        table: { count: null, max: null, buckets: null },
      }),
    );
    const sev = (id: string, subject: string): string | undefined => f.find((x) => x.id === id && x.subject === subject)?.severity;
    expect(sev('file-unreadable', '/proc/77/root/etc/resolv.conf')).toBe('low');
    expect(sev('file-unreadable', '/proc/sys/net/netfilter/nf_conntrack_count')).toBe('high');
    expect(sev('file-unreadable', 'ip -d link show type vxlan')).toBe('low');
    expect(sev('file-unreadable', '/proc/sys/net/ipv4/tcp_syn_retries')).toBe('info');
    expect(sev('conntrack-stats-unreadable', 'host')).toBe('medium');
    expect(gateOutcome(f, 'high').code).toBe(2);
    expect(gateOutcome(f, 'high').line).toMatch(/1 input could not be read \(\/proc\/sys\/net\/netfilter\/nf_conntrack_count\)/);
    // On an old kernel the resolv.conf it hides is medium, and so is the VXLAN device list (double SNAT: high).
    const old = auditFindings(facts('4.19.100', fromUname('4.19.100'), { resolvers: [{ where: 'host', path: '/etc/resolv.conf', text: null, error: 'EACCES', libc: 'glibc' }], unreadable: { 'ip -d link show type vxlan': 'exit 1' } }));
    expect(old.find((x) => x.subject === '/etc/resolv.conf')?.severity).toBe('medium');
    expect(old.find((x) => x.subject === 'ip -d link show type vxlan')?.severity).toBe('high');
  });

  it('findings that were read exit 1; nothing at the threshold exits 0', () => {
    const readable = auditFindings(facts('6.18.44', fromUname('6.18.44')));
    expect(gateOutcome(readable, 'medium')).toEqual({ code: 1, line: null });
    expect(gateOutcome(readable, 'high')).toEqual({ code: 0, line: null });
  });
});

describe('reports and diff', () => {
  it("report.md names the upstream version and where it was read; an older file's string version is read as uname's", async () => {
    const md = renderMarkdown(makeResult([{ mode: 'none', attempts: 1000 }], { kernel: '6.1.0-57-amd64', kernelVersion: distro('Debian 12 (bookworm), the version string') }));
    expect(md).toContain('What kernel 6.1.192 can show');
    expect(md).toContain('| kernel version | 6.1.192 (from /proc/version) |');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'repro-kver-'));
    try {
      const old = makeResult([{ mode: 'none', attempts: 1000 }]) as unknown as Record<string, Record<string, unknown>>;
      const file = path.join(dir, 'result.json');
      writeFileSync(file, JSON.stringify({ ...old, environment: { ...old['environment'], kernel: '4.19.0-20-amd64', kernelVersion: '4.19.0' } }));
      const r = await loadResultFile(file);
      expect(r.environment.kernelVersion).toEqual({ version: '4.19', source: 'uname', exact: false });
      expect(renderMarkdown(r)).toContain('What kernel 4.19.x can show');
      // A file's content is not trusted: a malformed version object is read from uname's release too.
      writeFileSync(file, JSON.stringify({ ...old, environment: { ...old['environment'], kernel: '6.1.0-57-amd64', kernelVersion: { version: 6, source: 'x' } } }));
      expect((await loadResultFile(file)).environment.kernelVersion).toEqual({ version: '6.1', source: 'uname', exact: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('repro diff names both interrupted runs', () => {
    const a = { ...makeResult([{ mode: 'none', attempts: 1000 }]), interrupted: true };
    const b = { ...makeResult([{ mode: 'none', attempts: 1000 }]), interrupted: true };
    const d = diffResults([{ label: 'tcp-syn', result: a }], [{ label: 'tcp-syn', result: b }], { failOnWorse: [] });
    expect(d.runs[0]?.caveats).toContain('old and new runs were both interrupted (partial results)');
    expect(renderDiff(d)).toContain('caveat: old and new runs were both interrupted (partial results)');
    const one = diffResults([{ label: 'tcp-syn', result: makeResult([{ mode: 'none', attempts: 1000 }]) }], [{ label: 'tcp-syn', result: b }], { failOnWorse: [] });
    expect(one.runs[0]?.caveats).toContain('new run was interrupted (partial result)');
  });
});
