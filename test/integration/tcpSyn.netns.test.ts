import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli, runCliAs } from './cli.js';
import { expectRefusals, interruptedRun, killedRun } from './expectations.js';
import type { ResultFile } from '../../src/types.js';
import { kernelBandNames } from './kernelBands.js';
import { expectedRunVerdict, expectedTcpSynVerdict } from './verdictFromCounters.js';

const gate = capabilityGate();

function tmpOut(): string {
  return mkdtempSync(path.join(tmpdir(), 'repro-test-'));
}

describe.skipIf(gate.skip)(`repro tcp-syn on the netns backend (real kernel)${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('runs all three modes, the JSON adds up, and the host is left as found', async () => {
    const before = hostSnapshot();
    const out = tmpOut();
    const r = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '3000', '--duration', '20', '--json', '--out', out]);
    expect(r.stderr).toContain('verdict:');
    expect(r.code).toBe(0);

    const result = JSON.parse(r.stdout) as ResultFile;
    const onDisk = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as ResultFile;
    expect(onDisk).toEqual(result);

    expect(result.schema).toBe('repro/result@1');
    expect(result.scenario).toBe('tcp-syn');
    expect(result.interrupted).toBe(false);
    expect(result.environment.kernel.length).toBeGreaterThan(0);
    expect(result.environment.iptables.version).toMatch(/^\d+\.\d+/);
    expect(result.environment.cpus).toBeGreaterThan(0);
    expect(result.environment.backend).toBe('netns');
    expect(result.environment.conntrackColumns).toContain('insert_failed');
    expect(result.config.modes).toEqual(['none', 'random', 'random-fully']);
    expect(result.modes.map((m) => m.mode)).toEqual(['none', 'random', 'random-fully']);

    // The bands a lost SYN puts a connect in, from this kernel's sysctls and a hand-written schedule (8 s timeout).
    const bands = kernelBandNames(Number(result.config.connectTimeoutMs));
    for (const m of result.modes) {
      expect(m.attempts).toBe(3000);
      expect(m.succeeded + m.failed).toBe(m.attempts);
      const stalls = Object.values(m.signatures).reduce((s, n) => s + n, 0);
      expect(stalls).toBeLessThanOrEqual(m.attempts);
      expect(Object.keys(m.signatures)).toEqual(bands);
      expect(m.synSchedule?.source).toBe('sysctl');
      expect(m.counters.conntrack).toHaveProperty('insert_failed');
      expect(m.counters.conntrack).toHaveProperty('drop');
      expect(m.counters.clients).toHaveProperty('TcpExtTCPSynRetrans');
      expect(m.counters.server).toHaveProperty('TcpExtListenOverflows');
      expect(m.counters.server).toHaveProperty('TcpExtListenDrops');
      // Every successful connect passed through the server's listener.
      // A race loser's last ACK can trail the client's RST: the server counts it as an embryonic reset.
      expect((m.counters.server['TcpPassiveOpens'] ?? 0) + (m.counters.server['TcpExtEmbryonicRsts'] ?? 0)).toBeGreaterThanOrEqual(m.succeeded);
      expect(m.counters.clients['TcpActiveOpens']).toBeGreaterThanOrEqual(m.attempts - (m.failures['EADDRNOTAVAIL'] ?? 0));
      const a = m.attribution;
      // Every confirmed lost SYN of a band was retransmitted (the kernel's TcpExtTCPSynRetrans); a timed-out connect's
      // last SYN was not, one per timeout.
      const timeouts = m.failures['ETIMEDOUT'] ?? 0;
      expect(a.lostSyns).toBeLessThanOrEqual((m.counters.clients['TcpExtTCPSynRetrans'] ?? 0) + timeouts);
      expect(a.stalled ?? 0).toBeLessThanOrEqual(stalls + timeouts);
      // The verdict follows from the kernel's counters (3000 attempts: a race drop, or inconclusive).
      expect(m.verdict, m.reason).toBe(expectedTcpSynVerdict(m));
      if (m.verdict === 'reproduced') expect(m.counters.conntrack['insert_failed']).toBeGreaterThan(0);
      expect(m.latencyMs.p50).toBeGreaterThan(0);
      expect(m.latencyMs.p50).toBeLessThanOrEqual(m.latencyMs.p99);
      expect(m.latencyMs.p99).toBeLessThanOrEqual(m.latencyMs.max);
      expect(m.rule).toContain('-j MASQUERADE');
    }
    expect(result.modes[0]?.rule).not.toContain('--random');
    expect(result.modes[1]?.rule).toMatch(/--random$/);
    expect(result.modes[2]?.rule).toContain('--random-fully');
    expect(result.verdict).toBe(expectedRunVerdict(result.modes.map(expectedTcpSynVerdict)));

    expect(hostSnapshot()).toEqual(before);
    rmSync(out, { recursive: true, force: true });
  }, 120_000);

  it('refuses bad input with one line and exit code 2, leaving nothing behind', async () => {
    const before = hostSnapshot();
    const cases: [string[], RegExp][] = [
      [['tcp-syn', '--bogus-flag'], /^repro: repro tcp-syn has no option "--bogus-flag" \(see repro tcp-syn --help\)\n/],
      [['tcp-syn', '--port-range', '5000-4000'], /--port-range/],
      [['tcp-syn', '--port-range', 'lots'], /--port-range/],
      [['tcp-syn', '--modes', 'none,fastest'], /unknown mode "fastest"/],
      [['tcp-syn', '--clients', '0'], /--clients/],
      [['tcp-syn', '--connections', '2.5'], /--connections/],
      [['tcp-syn', '--close', 'slam'], /close/],
      [['frobnicate'], /unknown argument|command/i],
    ];
    await expectRefusals(cases);
    expect(hostSnapshot()).toEqual(before);
  }, 60_000);

  it('on SIGINT during the load tears everything down and writes a partial result marked interrupted', async () => {
    const before = hostSnapshot();
    const out = tmpOut();
    await interruptedRun(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '500000', '--duration', '60'], /\b\d[\d,]* attempts\b/, out);
    expect(hostSnapshot()).toEqual(before);
    rmSync(out, { recursive: true, force: true });
  }, 120_000);

  it('after SIGKILL, repro cleanup removes every leftover and nothing else', async () => {
    const before = hostSnapshot();
    await killedRun(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '500000', '--duration', '60']);
    // The run's namespaces and rules are still there: cleanup has something to do.
    expect(hostSnapshot()).not.toEqual(before);
    const c = await runCli(['cleanup']);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/\b[1-9]\d* namespaces/);
    expect(hostSnapshot()).toEqual(before);
    // Nor a SYN capture of the killed run, still writing into a namespace that is gone.
    const captures = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return /tcpdump.*repro-capture-[0-9a-f]{6}-/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8'));
      } catch {
        return false;
      }
    });
    expect(captures).toEqual([]);
  }, 120_000);

  it('refuses to run without root: one line, exit 2', async () => {
    const r = await runCliAs(65534, ['tcp-syn', '--connections', '100']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/must run as root/);
  }, 30_000);

  it('doctor reports every prerequisite as present', async () => {
    const r = await runCli(['doctor']);
    expect(r.code).toBe(0);
    for (const name of ['root', 'iproute2', 'iptables', 'conntrack', 'connect engine', 'dns engine']) expect(r.stdout).toMatch(new RegExp(`^ok\\s+${name}\\b`, 'm'));
  }, 30_000);

  it('env prints the environment block alone', async () => {
    const r = await runCli(['env']);
    expect(r.code).toBe(0);
    const env = JSON.parse(r.stdout) as ResultFile['environment'];
    expect(env.cpus).toBeGreaterThan(0);
    expect(env.harness.name).toBe('repro');
    expect(existsSync('/proc/net/stat/nf_conntrack') ? env.conntrackColumns.length : 1).toBeGreaterThan(0);
  }, 30_000);
});
