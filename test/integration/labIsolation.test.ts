import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli, runCliEnv } from './cli.js';
import { formatPrefix, hostAddress, pickFreeSubnets, prefixesInUse } from '../../src/host/subnets.js';
import { linkName, netnsName, newRunId } from '../../src/host/names.js';
import type { ResultFile } from '../../src/types.js';

const gate = capabilityGate();
const docker = gate.skip ? gate : dockerGate();

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** What of the host namespace a netns run must never touch, byte for byte (the issue's list). */
function hostNamespace(): string {
  return [
    sh('iptables-save', []).replace(/^#.*$/gm, ''),
    sh('ip6tables-save', []).replace(/^#.*$/gm, ''),
    sh('ip', ['-o', 'link', 'show']).replace(/ mtu .*$/gm, ''),
    sh('ip', ['-4', 'route', 'show', 'table', 'all']),
    sh('ip', ['-6', 'route', 'show', 'table', 'all']),
    sh('sysctl', ['net.ipv4.ip_forward', 'net.ipv4.conf.all.forwarding', 'net.ipv6.conf.all.forwarding']),
  ].join('\n');
}

/** The host's own insert_failed, summed over CPUs (the pollution the isolation test makes on purpose). */
function hostInsertFailed(): number {
  const [head = '', ...rows] = readFileSync('/proc/net/stat/nf_conntrack', 'utf8').trim().split('\n');
  const col = head.trim().split(/\s+/).indexOf('insert_failed');
  return rows.reduce((s, r) => s + parseInt(r.trim().split(/\s+/)[col] ?? '0', 16), 0);
}

/**
 * Race drops in the host namespace, made on purpose: two client namespaces on a bridge in the host, a no-flag
 * MASQUERADE in the host's own nat table, and test/integration/samePortRace.c binding one source port in both at once.
 * This is the "another workload on the same node" of the issue; everything goes in `destroy`.
 */
async function hostRaceMaker(): Promise<{ race(rounds: number): string; destroy(): void }> {
  const id = newRunId();
  const [cs, ss] = pickFreeSubnets(await prefixesInUse(), 2);
  if (!cs || !ss) throw new Error('no free subnet for the host race maker');
  const clientNet = formatPrefix(cs);
  const serverNet = formatPrefix(ss);
  const ns = { c1: netnsName(id, 'c1'), c2: netnsName(id, 'c2'), srv: netnsName(id, 'srv') };
  const br = linkName(id, 'br');
  const sv = linkName(id, 'sv');
  const tag = ['-m', 'comment', '--comment', `repro:${id}`];
  const rules: string[][] = [
    ['-t', 'nat', '-I', 'POSTROUTING', '1', '-s', clientNet, '!', '-o', br, ...tag, '-j', 'MASQUERADE'],
    ['-I', 'FORWARD', '1', '-s', clientNet, '-d', serverNet, ...tag, '-j', 'ACCEPT'],
    ['-I', 'FORWARD', '1', '-s', serverNet, '-d', clientNet, ...tag, '-j', 'ACCEPT'],
  ];
  const dir = mkdtempSync(path.join(tmpdir(), 'repro-hostrace-'));
  const bin = path.join(dir, 'samePortRace');
  // `-I CHAIN 1 spec` is undone by `-D CHAIN spec`; what was never created is not there to remove.
  const undo = (r: string[]): string[] => {
    const i = r.indexOf('-I');
    return [...r.slice(0, i), '-D', r[i + 1] ?? '', ...r.slice(i + 3)];
  };
  const quietly = (cmd: string, args: string[]): void => void execFileSync(cmd, args, { stdio: 'ignore' }).toString();
  const destroy = (): void => {
    for (const r of rules) {
      try {
        quietly('iptables', undo(r));
      } catch {
        // not installed (a failed build)
      }
    }
    for (const n of Object.values(ns)) {
      try {
        quietly('ip', ['netns', 'del', n]);
      } catch {
        // not created
      }
    }
    try {
      quietly('ip', ['link', 'del', br]);
    } catch {
      // not created
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    sh('cc', ['-O2', '-pthread', '-o', bin, fileURLToPath(new URL('./samePortRace.c', import.meta.url))]);
    for (const n of Object.values(ns)) sh('ip', ['netns', 'add', n]);
    sh('ip', ['link', 'add', br, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${hostAddress(cs, 1)}/24`, 'dev', br]);
    sh('ip', ['link', 'set', br, 'up']);
    sh('sysctl', ['-q', '-w', `net.ipv4.conf.${br}.forwarding=1`]);
    for (const [i, c] of [ns.c1, ns.c2].entries()) {
      const l = linkName(id, `h${i}`);
      sh('ip', ['link', 'add', l, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c]);
      sh('ip', ['link', 'set', l, 'master', br, 'up']);
      sh('ip', ['-n', c, 'addr', 'add', `${hostAddress(cs, 10 + i)}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', c, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', c, 'route', 'add', serverNet, 'via', hostAddress(cs, 1)]);
    }
    sh('ip', ['link', 'add', sv, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.srv]);
    sh('ip', ['addr', 'add', `${hostAddress(ss, 1)}/24`, 'dev', sv]);
    sh('ip', ['link', 'set', sv, 'up']);
    sh('sysctl', ['-q', '-w', `net.ipv4.conf.${sv}.forwarding=1`]);
    sh('ip', ['-n', ns.srv, 'addr', 'add', `${hostAddress(ss, 2)}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', ns.srv, 'link', 'set', 'eth0', 'up']);
    for (const r of rules) sh('iptables', r);
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    race: (rounds) => sh(bin, [`/run/netns/${ns.c1}`, `/run/netns/${ns.c2}`, hostAddress(ss, 2), '9', '20000', String(rounds)]),
    destroy,
  };
}

describe.skipIf(gate.skip)(`the lab owns its network (netns backend)${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('leaves the host namespace byte-identical even while a run lasts, and adds nothing to its conntrack table', async () => {
    const before = hostNamespace();
    const snapshots: string[] = [];
    const out = mkdtempSync(path.join(tmpdir(), 'repro-iso-'));
    let timer: NodeJS.Timeout | undefined;
    const r = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '20000', '--modes', 'none,random-fully', '--json', '--out', out], (text) => {
      // From the first mode on, the lab is complete: look at the host every 200 ms until the run ends.
      if (timer === undefined && text.includes('mode none:')) timer = setInterval(() => snapshots.push(hostNamespace() + '\n' + sh('conntrack', ['-L'])), 200);
    });
    clearInterval(timer);
    expect(r.code, r.stderr.slice(-600)).toBe(0);
    const result = JSON.parse(r.stdout) as ResultFile;
    expect(result.environment.natNamespace).toMatch(/^repro-[0-9a-f]{6}-rtr$/);
    expect(snapshots.length).toBeGreaterThan(3);
    const subnets = [String(result.config.clientSubnet), String(result.config.serverSubnet)].map((s) => s.replace(/\.0\/24$/, '.'));
    for (const s of snapshots) {
      const [namespace, conntrack = ''] = [s.slice(0, before.length), s.slice(before.length + 1)];
      expect(namespace).toBe(before);
      for (const p of subnets) expect(conntrack).not.toContain(`src=${p}`);
    }
    expect(hostNamespace()).toBe(before);
    rmSync(out, { recursive: true, force: true });
  }, 120_000);

  it("counts only the lab's own races: race drops made in the host meanwhile stay out of a random-fully run", async () => {
    const maker = await hostRaceMaker();
    const out = mkdtempSync(path.join(tmpdir(), 'repro-iso-'));
    try {
      const host0 = hostInsertFailed();
      let racing: Promise<void> | null = null;
      const r = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '60000', '--modes', 'random-fully', '--json', '--out', out], (text) => {
        // Pollute the host while the lab's load runs.
        racing ??= text.includes('mode random-fully:') ? new Promise((resolve) => setTimeout(() => resolve(void maker.race(1500)), 300)) : null;
      });
      await racing;
      expect(r.code, r.stderr.slice(-600)).toBe(0);
      const polluted = hostInsertFailed() - host0;
      // Ground truth from outside the run: the host's own counter moved while the run measured.
      expect(polluted).toBeGreaterThan(0);
      const m = (JSON.parse(r.stdout) as ResultFile).modes[0];
      expect(m?.counters.conntrack['insert_failed']).toBe(0);
      expect(m?.attribution.conntrackRace).toBe(0);
    } finally {
      maker.destroy();
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);

  it('REPRO_CONNTRACK_STATS=netlink reads the router namespace and finds the same races as the counters the clients see', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'repro-iso-'));
    const r = await runCliEnv({ REPRO_CONNTRACK_STATS: 'netlink' }, ['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '30000', '--modes', 'none', '--json', '--out', out]);
    expect(r.code, r.stderr.slice(-600)).toBe(0);
    const result = JSON.parse(r.stdout) as ResultFile;
    expect(result.environment.conntrackStatsSource).toBe('netlink');
    const m = result.modes[0];
    // Every lost SYN the clients' own retransmit counter confirms is matched by the netlink counter, as over procfs.
    expect(m?.counters.conntrack).toHaveProperty('insert_failed');
    expect(m?.attribution.conntrackRace).toBe(Math.min(m?.counters.conntrack['insert_failed'] ?? 0, m?.attribution.lostSyns ?? 0));
    rmSync(out, { recursive: true, force: true });
  }, 120_000);
});

describe.skipIf(docker.skip)(`docker backend: rules someone else removes${docker.skip ? ` — skipped: ${docker.reason}` : ''}`, () => {
  it('a mode whose MASQUERADE rule is deleted mid-mode ends invalid, says what changed, and still tears down cleanly', async () => {
    const before = hostSnapshot();
    const out = mkdtempSync(path.join(tmpdir(), 'repro-rules-'));
    let flushed = false;
    const r = await runCli(
      ['tcp-syn', '--load', 'steady', '--backend', 'docker', '--connections', '400000', '--duration', '3', '--connect-timeout', '1000', '--modes', 'none', '--json', '--out', out],
      (text) => {
        const id = /run ([0-9a-f]{6})/.exec(text)?.[1];
        if (!flushed && id && text.includes('mode none:')) {
          flushed = true;
          // What a dockerd restart or a firewalld reload does to a chain it does not know.
          setTimeout(() => sh('iptables', ['-t', 'nat', '-F', `REPRO-NAT-${id}`]), 500);
        }
      },
    );
    expect(flushed).toBe(true);
    expect(r.code, r.stderr.slice(-600)).toBe(0);
    const m = (JSON.parse(r.stdout) as ResultFile).modes[0];
    expect(m?.verdict).toBe('invalid');
    expect(m?.reason).toMatch(/rules changed during the mode \(missing: -A REPRO-NAT-[0-9a-f]{6} -s .* -j MASQUERADE/);
    expect(hostSnapshot()).toEqual(before);
    rmSync(out, { recursive: true, force: true });
  }, 180_000);
});
