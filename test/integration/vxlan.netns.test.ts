import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import { expectRefusals, interruptedRun } from './expectations.js';
import type { ModeResult, OtherScenarioConfig, ResultFile } from '../../src/types.js';
import { kernelBandNames } from './kernelBands.js';

const gate = capabilityGate();

function tmpOut(): string {
  return mkdtempSync(path.join(tmpdir(), 'repro-vxlan-test-'));
}

function evidence(m: ModeResult | undefined): NonNullable<ModeResult['vxlan']> {
  expect(m?.vxlan).toBeDefined();
  return m?.vxlan as NonNullable<ModeResult['vxlan']>;
}

describe.skipIf(gate.skip)(`repro vxlan on the netns backend (real kernel)${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('legacy, patched and legacy+none+offload-off: the JSON adds up, the evidence matches the rules, the host is left as found', async () => {
    const before = hostSnapshot();
    const out = tmpOut();
    try {
      const connections = 1500;
      const r = await runCli(['vxlan', '--modes', 'legacy,patched,legacy+none+offload-off', '--connections', String(connections), '--duration', '20', '--json', '--out', out]);
      expect(r.stderr).toContain('verdict:');
      expect(r.code).toBe(0);

      const result = JSON.parse(r.stdout) as ResultFile;
      expect(JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'))).toEqual(result);
      expect(result.schema).toBe('repro/result@1');
      expect(result.scenario).toBe('vxlan');
      expect(result.interrupted).toBe(false);
      expect(result.environment.backend).toBe('netns');
      expect(result.config.modes).toEqual(['legacy', 'patched', 'legacy+none+offload-off']);
      expect(result.modes.map((m) => m.mode)).toEqual(['legacy', 'patched', 'legacy+none+offload-off']);
      // The positive control: node B counted the datagrams sent to it with a broken UDP checksum.
      expect((result.config as OtherScenarioConfig)['checksumProbe']).toEqual({ ran: true, sent: 3, counted: 3, verified: true });

      for (const m of result.modes) {
        const v = evidence(m);
        expect(m.attempts).toBe(connections);
        expect(m.succeeded + m.failed).toBe(m.attempts);
        expect(Object.keys(m.signatures)).toEqual(kernelBandNames(Number((result.config as OtherScenarioConfig)['connectTimeoutMs'] ?? 70_000)));
        const a = m.attribution;
        // Checksum drops are their own share, never the conntrack race.
        expect(a.conntrackRace).toBe(0);
        // Every confirmed lost SYN was retransmitted by node A (TcpExtTCPSynRetrans), but a timed-out connect's last one.
        expect(a.lostSyns).toBeLessThanOrEqual((m.counters.clients['TcpExtTCPSynRetrans'] ?? 0) + (m.failures['ETIMEDOUT'] ?? 0));
        // Every successful connect reached pod B's listener through the service DNAT and the overlay.
        expect(m.counters.server['TcpPassiveOpens']).toBeGreaterThanOrEqual(m.succeeded);
        // Each outer flow is the encapsulation of at least one inner flow (its source port hashes the inner tuple).
        expect(v.outerFlows).toBeGreaterThan(0);
        expect(v.outerFlows).toBeLessThanOrEqual(m.attempts);
        expect(v.outerFlowsRemapped).toBeLessThanOrEqual(v.outerFlows);
        // Drops are whatever the counters say, stated, not assumed.
        const csum = Object.values(v.checksumErrors).reduce((s, n) => s + n, 0);
        expect(v.drops).toBe(csum > 0 || a.lostSyns > 0);
        expect(m.rule).toContain('MASQUERADE');
      }

      const [legacy, patched, noFlag] = result.modes;
      const l = evidence(legacy);
      // Legacy: every new outer flow still carries the mark and is masqueraded: MASQUERADE sees each inner and each outer flow once.
      expect(l.doubleSnat).toBe(true);
      expect(legacy?.verdict).toBe('reproduced');
      expect(l.markedOuterFlows).toBe(l.outerFlows);
      expect(l.masqueradeHits).toBe(connections + l.markedOuterFlows);
      // --random-fully picks a random port: it keeps the old one only by a 1-in-64 512 chance per flow.
      expect(l.outerFlowsRemapped).toBeGreaterThanOrEqual(Math.floor(l.outerFlows * 0.99));
      expect(l.example).toMatch(/^udp\s.*dport=8472/);

      // Patched: the mark is cleared before the first MASQUERADE, the outer flows go out untouched.
      const p = evidence(patched);
      expect(p.doubleSnat).toBe(false);
      expect(patched?.verdict).toBe('not-reproduced');
      expect(p.markedOuterFlows).toBe(0);
      expect(p.outerFlowsRemapped).toBe(0);
      expect(p.masqueradeHits).toBe(connections);

      // Legacy without --random-fully: masqueraded a second time, but the source port is kept.
      const n = evidence(noFlag);
      expect(n.offloadOff).toBe(true);
      expect(n.masqueradeFlag).toBe('none');
      expect(n.doubleSnat).toBe(true);
      expect(n.markedOuterFlows).toBe(n.outerFlows);
      expect(n.outerFlowsRemapped).toBe(0);
      expect(noFlag?.rule).not.toContain('--random');

      expect(r.stderr).toMatch(/double SNAT\s+YES\s+no\s+YES/);
      expect(hostSnapshot()).toEqual(before);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 150_000);

  it('refuses bad input with one line and exit code 2, leaving nothing behind', async () => {
    const before = hostSnapshot();
    const cases: [string[], RegExp][] = [
      [['vxlan', '--modes', 'legacy,modern'], /unknown mode "modern"/],
      [['vxlan', '--modes', 'legacy+turbo'], /unknown or repeated part "turbo"/],
      [['vxlan', '--modes', 'legacy,legacy+random-fully'], /listed twice/],
      [['vxlan', '--vxlan-port', '0'], /--vxlan-port/],
      [['vxlan', '--connections', '-5'], /--connections/],
      [['vxlan', '--backend', 'docker'], /--backend "docker": choose auto or netns/],
      [['vxlan', '--no-such-flag'], /has no option "--no-such-flag"/],
    ];
    await expectRefusals(cases);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);

  it('on SIGINT during the load tears everything down and writes a partial result marked interrupted', async () => {
    const before = hostSnapshot();
    const out = tmpOut();
    try {
      // The first progress line of the first mode: the load is running. Bounded even if no signal went out: 2 modes x 30 s.
      await interruptedRun(['vxlan', '--connections', '1000000', '--duration', '30'], /\[1\/2\] legacy\b.*connects/, out);
      expect(hostSnapshot()).toEqual(before);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('after SIGKILL, repro cleanup --run removes its namespaces and state file', async () => {
    const before = hostSnapshot();
    let runId = '';
    let killed = false;
    await runCli(['vxlan', '--connections', '1000000', '--duration', '30'], (text, child) => {
      runId ||= /\(run ([0-9a-f]{6})\)/.exec(text)?.[1] ?? '';
      if (!killed && /\[1\/2\] legacy\b.*connects/.test(text)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    expect(killed).toBe(true);
    expect(runId).toMatch(/^[0-9a-f]{6}$/);
    // The run's four namespaces are still there: cleanup has something to do.
    expect(hostSnapshot().netns.filter((n) => n.startsWith(`repro-${runId}-`))).toHaveLength(4);
    const c = await runCli(['cleanup', '--run', runId]);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/removed .*\b4 namespaces/);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);
});
