import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import { buildNodes, rulesSnapshot, type NodeShape } from './nodeShapes.js';
import { assessKernel } from '../../src/analysis/kernelFixes.js';
import { readKernelVersion } from '../../src/host/environment.js';
import { netnsName, newRunId } from '../../src/host/names.js';
import type { AuditReport } from '../../src/node/audit/audit.js';
import { CLI } from './cli.js';

const gate = capabilityGate();

/** Every finding as id|severity|subject; the kernel's own findings apart (they follow kernelFixes.ts, whatever it says). */
function shapeOf(r: AuditReport): string[] {
  return r.findings
    .filter((f) => f.id !== 'kernel-missing-fix')
    .map((f) => `${f.id}|${f.severity}|${f.subject}`)
    .sort();
}

/** The findings each node shape must give on this kernel (6.x: the zero-checksum and clash fixes are in). */
function expected(shape: NodeShape, netns: string): string[] {
  const always = [`conntrack-counters|info|${netns}`, `conntrack-table-pressure|info|${netns}`, 'syn-schedule|info|'];
  const dnsGlibc = 'dns-parallel-queries|low|glibc';
  const byShape: Record<NodeShape, string[]> = {
    docker: ['masquerade-without-random-fully|medium|nat/POSTROUTING: -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE', dnsGlibc],
    // kube-proxy with --random-fully: no masquerade finding, but the legacy chain still masquerades VXLAN twice.
    'kube-legacy': ['vxlan-double-snat|low|flannel.1', dnsGlibc],
    // The patched chain and single-request-reopen: nothing but the facts every node gets.
    'kube-patched': [],
    'nft-native': ['masquerade-without-random-fully|medium|table ip natlab chain post: ip saddr 10.88.0.0/16 oifname "eth0" masquerade', dnsGlibc],
  };
  return [...always, ...byShape[shape]].sort();
}

describe.skipIf(gate.skip)(`repro audit on namespaces shaped like nodes${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('gives exactly the expected findings for each shape, and changes nothing', async () => {
    const host = hostSnapshot();
    const lab = buildNodes(['docker', 'kube-legacy', 'kube-patched', 'nft-native']);
    try {
      const kernelSubjects = assessKernel(await readKernelVersion())
        .filter((k) => k.status !== 'present')
        .map((k) => k.id);
      for (const node of lab.nodes) {
        const before = rulesSnapshot(node.netns);
        const r = await runCli(['audit', '--netns', node.netns, '--json', '--fail-on', 'never']);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const report = JSON.parse(r.stdout) as AuditReport;
        expect(report.netns).toBe(node.netns);
        expect({ shape: node.shape, findings: shapeOf(report) }).toEqual({ shape: node.shape, findings: expected(node.shape, node.netns) });
        expect(report.findings.filter((f) => f.id === 'kernel-missing-fix').map((f) => f.subject)).toEqual(kernelSubjects);
        expect(rulesSnapshot(node.netns)).toEqual(before);
      }
      // The rule as written, and the device with its offload, are the evidence.
      const legacy = lab.nodes.find((n) => n.shape === 'kube-legacy');
      const r = await runCli(['audit', '--netns', legacy?.netns ?? '', '--json', '--fail-on', 'never']);
      const vx = (JSON.parse(r.stdout) as AuditReport).findings.find((f) => f.id === 'vxlan-double-snat');
      expect(vx?.evidence).toContain('iptables-nft-save: -A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
      expect(vx?.evidence).toContain('flannel.1: vxlan port 8472, outer UDP checksum off (0), tx-checksumming on');
    } finally {
      lab.destroy();
    }
    expect(hostSnapshot()).toEqual(host);
  }, 60_000);

  it('exits by --fail-on, and prints the findings for humans without --json', async () => {
    const lab = buildNodes(['docker']);
    try {
      const ns = lab.nodes[0]?.netns ?? '';
      expect((await runCli(['audit', '--netns', ns])).code).toBe(0);
      const medium = await runCli(['audit', '--netns', ns, '--fail-on', 'medium']);
      expect(medium.code).toBe(1);
      expect(medium.stdout).toMatch(/^MEDIUM {2}masquerade-without-random-fully {2}MASQUERADE without --random-fully in nat\/POSTROUTING \(Docker\)$/m);
      expect(medium.stdout).toMatch(/^INFO {4}syn-schedule {2}a connect that lost 1, 2, 3 \.\.\. SYNs completes after /m);
      expect((await runCli(['audit', '--netns', ns, '--fail-on', 'never'])).code).toBe(0);
    } finally {
      lab.destroy();
    }
  }, 60_000);

  it('bad arguments: one line, exit 2', async () => {
    const dead = execFileSync('sh', ['-c', 'sh -c "exit 0" & echo $!'], { encoding: 'utf8' }).trim();
    const cases: [string[], RegExp][] = [
      [['audit', '--netns', 'repro-000000-nosuch'], /^repro: --netns repro-000000-nosuch: no network namespace named repro-000000-nosuch/],
      [['audit', '--pid', dead], new RegExp(`^repro: --pid ${dead}: no process ${dead}`)],
      [['audit', '--pid', '-3'], /^repro: --pid "-3": not a process id/],
      [['audit', '--container', 'repro-no-such-container'], /^repro: --container repro-no-such-container: no running container/],
      [['audit', '--netns', 'a', '--pid', '1'], /^repro: give one of --netns, --pid or --container, once/],
      // low and info are severities audit prints, so --fail-on takes them; a word that is none is refused.
      [['audit', '--fail-on', 'severe'], /^repro: --fail-on "severe": choose high, medium, low, info or never$/m],
      [['watch', '--netns', 'repro-000000-nosuch'], /^repro: --netns repro-000000-nosuch: no network namespace/],
      [['watch', '--pid', dead], new RegExp(`^repro: --pid ${dead}: no process`)],
      [['watch', '--interval', '0'], /^repro: --interval "0": give a duration such as 30s, 500ms or 2m \(a bare number is seconds\), seconds from 0\.1 s to 3600 s$/m],
      [['watch', '--prometheus', 'localhost'], /^repro: --prometheus "localhost": expected HOST:PORT/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect({ args, code: r.code, lines: r.stderr.trim().split('\n').length }).toEqual({ args, code: 2, lines: 1 });
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});

describe.skipIf(gate.skip || dockerGate().skip)('repro audit on this host, Docker running', () => {
  it("names docker0's MASQUERADE without --random-fully and this kernel's SYN schedule, and exits by --fail-on", async () => {
    const before = hostSnapshot();
    const r = await runCli(['audit', '--json', '--fail-on', 'medium']);
    const report = JSON.parse(r.stdout) as AuditReport;
    const docker = report.findings.find((f) => f.id === 'masquerade-without-random-fully' && /docker0/.test(f.subject));
    expect(docker?.title).toMatch(/\(Docker\)$/);
    expect(docker?.evidence[0]).toMatch(/^iptables-(nft-)?save: -A POSTROUTING -s [\d.]+\/\d+ ! -o docker0 -j MASQUERADE$/);
    const syn = report.findings.find((f) => f.id === 'syn-schedule');
    const linear = execFileSync('cat', ['/proc/sys/net/ipv4/tcp_syn_linear_timeouts'], { encoding: 'utf8' }).trim();
    expect(syn?.evidence).toContain(`net.ipv4.tcp_syn_linear_timeouts = ${linear}`);
    expect(r.code).toBe(1);
    expect(hostSnapshot()).toEqual(before);
  }, 60_000);
});

/** `which cmd`, or throws. */
const whichOf = (cmd: string): string => execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();

describe.skipIf(gate.skip)(`repro audit where it cannot look or has only the plain iptables-save${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('as a non-root user, --fail-on medium exits 2 and says in one line which inputs it could not read', () => {
    // A real unprivileged process (nobody): iptables-nft-save and nft refuse it; the rules gate --fail-on medium.
    let code = 0;
    let stderr = '';
    try {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'audit', '--fail-on', 'medium'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: os.tmpdir() });
    } catch (err) {
      const e = err as { status: number; stderr: string };
      code = e.status;
      stderr = e.stderr;
    }
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^repro: audit cannot pass --fail-on medium: \d+ inputs? could not be read \(.*iptables-nft-save.*\), so findings at that severity may be hidden: run it as root/);
    // /proc/net/ip_tables_names is root's only (0440): unreadable is not "no legacy tables", the legacy tool is asked.
    expect(stderr).toMatch(/\(.*\biptables-legacy-save\b.*\)/);
  }, 60_000);

  it('where only the plain iptables-save exists (no -legacy/-nft variants), it reads the legacy rules once: no false "could not be read"', () => {
    const ns = netnsName(newRunId(), 'plain');
    const bin = mkdtempSync(path.join(os.tmpdir(), 'repro-plain-save-'));
    try {
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['netns', 'exec', ns, 'iptables-legacy', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.99.0.0/16', '-j', 'MASQUERADE']);
      // iptables before 1.8 installs iptables-save alone, built for the legacy backend: the multi binary by that name.
      for (const tool of ['ip', 'cat', 'nft', 'ethtool', 'conntrack']) symlinkSync(whichOf(tool), path.join(bin, tool));
      for (const tool of ['iptables-save', 'ip6tables-save']) symlinkSync(whichOf('xtables-legacy-multi'), path.join(bin, tool));
      const out = execFileSync(process.execPath, [CLI, 'audit', '--netns', ns, '--json', '--fail-on', 'never'], { encoding: 'utf8', env: { PATH: bin } });
      const report = JSON.parse(out) as AuditReport;
      expect(report.findings.filter((f) => f.id === 'ruleset-unreadable' && f.subject.startsWith('iptables')).map((f) => f.subject)).toEqual([]);
      expect(report.findings.filter((f) => f.id === 'masquerade-without-random-fully').map((f) => f.evidence)).toEqual([['iptables-save: -A POSTROUTING -s 10.99.0.0/16 -j MASQUERADE']]);
    } finally {
      rmSync(bin, { recursive: true, force: true });
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  }, 60_000);
});
