import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import type { ModeResult, ResultFile } from '../../src/types.js';

const DNS_ENGINE = new URL('../../dist/native/dns_engine.node', import.meta.url).pathname;

const gate = capabilityGate();

/** The snapshot plus what only `repro dns` writes: the per-namespace resolver files under /etc/netns. */
function snapshot(): ReturnType<typeof hostSnapshot> & { etcNetns: string[] | null } {
  return { ...hostSnapshot(), etcNetns: existsSync('/etc/netns') ? readdirSync('/etc/netns').sort() : null };
}

async function runDns(args: string[]): Promise<ResultFile> {
  const out = mkdtempSync(path.join(tmpdir(), 'repro-dns-test-'));
  try {
    const r = await runCli(['dns', '--backend', 'netns', '--json', '--out', out, ...args]);
    expect(r.stderr).toContain('verdict:');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as ResultFile;
    expect(JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'))).toEqual(result);
    return result;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** What every mode of every client must satisfy: the numbers add up and point at real counters. */
function expectModeAddsUp(m: ModeResult, lookups: number): void {
  expect(m.attempts).toBe(lookups);
  expect(m.succeeded + m.failed).toBe(m.attempts);
  expect(Object.keys(m.signatures)).toEqual(['5s', '10s']);
  expect(Object.values(m.signatures).reduce((s, n) => s + n, 0)).toBeLessThanOrEqual(m.succeeded);
  const a = m.attribution;
  expect(a.unit).toBe('lost-query');
  for (const k of ['insert_failed', 'drop']) expect(m.counters.conntrack).toHaveProperty(k);
  for (const k of ['UdpRcvbufErrors', 'UdpInErrors']) expect(m.counters.server).toHaveProperty(k);
  expect(m.counters.clients).toHaveProperty('UdpRcvbufErrors');
  // The verdict follows from the kernel's counters (this kernel has clashres: 5.10+). A harness that dropped queries
  // is invalid; a race drop matched to a lost query is reproduced; a clash the kernel resolved, with none lost, is
  // race-resolved; else zero races rule out dns's default --detect-rate of 25 per 100 000 only from
  // -ln(0.05) / 25e-5 = 11 983 lookups on (one-sided 95 %): not-reproduced from there, inconclusive below.
  const c = m.counters.conntrack;
  const harnessDrops = Math.max(m.counters.server['UdpRcvbufErrors'] ?? 0, m.counters.server['UdpInErrors'] ?? 0) + (m.counters.clients['UdpRcvbufErrors'] ?? 0);
  const otherFailures = m.failed - (m.failures['ETIMEDOUT'] ?? 0) - (m.failures['EAI_AGAIN'] ?? 0) - (m.failures['ABORTED'] ?? 0);
  const expected = harnessDrops > 0 || otherFailures > 0.001 * m.attempts ? 'invalid' : a.conntrackRace > 0 ? 'reproduced' : (c['clashres'] ?? 0) > 0 ? 'race-resolved' : m.attempts >= 11_983 ? 'not-reproduced' : 'inconclusive';
  expect(m.verdict, m.reason).toBe(expected);
  expect(m.histogram.length).toBeGreaterThan(0);
  if (m.succeeded > 0) expect(m.latencyMs.p50).toBeGreaterThan(0);
}

describe.skipIf(gate.skip)(`repro dns on the netns backend (real kernel)${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('raw client: A+AAAA through the VIP and the NOTRACK path, every query answered by the server', async () => {
    const before = snapshot();
    const r = await runDns(['--client', 'raw', '--modes', 'none,notrack', '--queries', '600', '--duration', '20', '--clients', '2']);
    expect(r.scenario).toBe('dns');
    expect(r.config.modes).toEqual(['none', 'notrack']);
    expect(r.config['vipAddress']).toMatch(/^10\.21[34]\.\d+\.250$/);
    const [none, notrack] = r.modes as [ModeResult, ModeResult];
    expectModeAddsUp(none, 600);
    expectModeAddsUp(notrack, 600);
    expect(none.rule).toContain('-j MASQUERADE');
    expect(none.rule).toContain('DNAT');
    expect(notrack.rule).toContain('--notrack');
    // Two queries per lookup left the clients, and the server received every query the clients sent.
    for (const m of r.modes) {
      expect(m.counters.clients['UdpOutDatagrams']).toBeGreaterThanOrEqual(2 * m.attempts);
      expect(m.counters.server['UdpInDatagrams']).toBe(m.counters.clients['UdpOutDatagrams']);
      // The native DNS engine where npm run build made it (always under CI: .ci/run requires it).
      expect(m.socketPath).toBe(existsSync(DNS_ENGINE) ? 'native' : 'udp_wrap');
    }
    // (The conntrack counters are the host's, shared with any other run at the time: not asserted to be zero.)
    expect(notrack.notes.join(' ')).toMatch(/ask a backend directly/);
    expect(snapshot()).toEqual(before);
  }, 90_000);

  it("libc client: glibc's resolver reads the harness's resolv.conf (use-vc goes over TCP), files removed after", async () => {
    const before = snapshot();
    const r = await runDns(['--client', 'libc', '--modes', 'none,use-vc', '--queries', '300', '--duration', '20', '--backends', '2', '--clients', '2']);
    const [none, vc] = r.modes as [ModeResult, ModeResult];
    expectModeAddsUp(none, 300);
    expectModeAddsUp(vc, 300);
    expect(none.counters.server['UdpInDatagrams']).toBeGreaterThanOrEqual(2 * none.succeeded);
    expect(vc.counters.server['TcpPassiveOpens']).toBeGreaterThanOrEqual(vc.succeeded);
    expect(vc.counters.server['UdpInDatagrams'] ?? 0).toBe(0);
    expect(snapshot()).toEqual(before);
  }, 90_000);

  it('burst client: lockstep workers on one source port; modes the resolver alone reads are flagged', async () => {
    const before = snapshot();
    const r = await runDns(['--client', 'burst', '--modes', 'none,single-request', '--queries', '1000', '--duration', '20', '--workers', '2', '--clients', '2']);
    for (const m of r.modes) {
      expectModeAddsUp(m, 1000);
      expect(m.counters.server['UdpInDatagrams']).toBeGreaterThanOrEqual(m.attempts);
    }
    expect(r.modes[1]?.notes.join(' ')).toMatch(/only glibc's resolver/);
    expect(r.modes[0]?.notes.join(' ')).not.toMatch(/only glibc's resolver/);
    expect(snapshot()).toEqual(before);
  }, 90_000);

  it('the DNS race happens under --client burst: the kernel counts clashes it resolved (clashres > 0), and the verdict says race-resolved', async () => {
    // Lockstep queries from one source port clash in conntrack; this kernel (5.10+: a clashres column) resolves the
    // clash instead of dropping the query (6a757c07e51f, "allow insertion of clashing entries"). How many clashes a
    // default run makes varies with the host's load (0 to 31 per 12 000 queries seen here): up to four runs, each
    // of the defaults, until one shows it.
    const before = snapshot();
    let shown: ModeResult | undefined;
    const seen: number[] = [];
    for (let i = 0; i < 4 && !shown; i++) {
      const r = await runDns(['--client', 'burst', '--modes', 'none']);
      expect(r.environment.conntrackColumns).toContain('clashres');
      const none = r.modes[0];
      if (!none) throw new Error('no mode in the result');
      expectModeAddsUp(none, 12_000);
      seen.push(none.counters.conntrack['clashres'] ?? 0);
      if ((none.counters.conntrack['clashres'] ?? 0) > 0) shown = none;
    }
    process.stderr.write(`dns burst: clashres per run ${seen.join(', ')}\n`);
    expect(shown, `clashres per run: ${seen.join(', ')}`).toBeDefined();
    // No lookup lost to it (insert_failed 0): the race happened and was hidden.
    if (shown && shown.attribution.conntrackRace === 0) expect(shown.verdict, shown.reason).toBe('race-resolved');
    expect(snapshot()).toEqual(before);
  }, 240_000);

  it('refuses bad input with one line and exit code 2, leaving nothing behind', async () => {
    const before = snapshot();
    const cases: [string[], RegExp][] = [
      [['dns', '--modes', 'none,single-request-sometimes'], /unknown mode or mitigation "single-request-sometimes"/],
      [['dns', '--zone', 'not a name'], /--zone "not a name" is not a DNS name/],
      [['dns', '--backends', '0'], /--backends must be a whole number from 1 to 26/],
      [['dns', '--client', 'dig'], /client/],
      [['dns', '--backend', 'podman'], /--backend "podman": choose auto, netns or docker/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
    expect(snapshot()).toEqual(before);
  }, 60_000);

  it('after SIGKILL, repro cleanup --run removes its namespaces, rules and resolver files', async () => {
    const before = snapshot();
    let runId = '';
    let killed = false;
    await runCli(['dns', '--backend', 'netns', '--client', 'libc', '--modes', 'none', '--queries', '200000', '--duration', '30', '--clients', '2'], (text, child) => {
      runId ||= /\(run ([0-9a-f]{6})\)/.exec(text)?.[1] ?? '';
      if (!killed && /\d[\d,]*\/[\d,]+ lookups/.test(text)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    expect(killed).toBe(true);
    expect(runId).toMatch(/^[0-9a-f]{6}$/);
    expect(readdirSync('/etc/netns').some((n) => n.startsWith(`repro-${runId}-`))).toBe(true);
    const c = await runCli(['cleanup', '--run', runId]);
    expect(c.code).toBe(0);
    expect(snapshot()).toEqual(before);
  }, 90_000);
});
