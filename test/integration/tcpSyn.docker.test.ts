import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { dockerGate, agentImages } from './docker.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli, runCliEnv } from './cli.js';
import { killedRun } from './expectations.js';
import type { ResultFile } from '../../src/types.js';

const base = capabilityGate();
const gate = base.skip ? base : dockerGate();

/** The JSON's shape: every key path, with arrays collapsed and histogram/counter names left out (they vary). */
function shape(v: unknown, at = ''): string[] {
  // Which SYNs were lost (and whether one collided) is the run's luck, not the backend's shape.
  if (/\.evidence\.records$/.test(at)) return [at];
  if (Array.isArray(v)) return v.length > 0 ? shape(v[0], `${at}[]`) : [`${at}[]`];
  if (v !== null && typeof v === 'object') {
    if (/\.(counters\.\w+|signatures|failures|conntrackSysctls)$/.test(at)) return [at];
    return Object.entries(v).flatMap(([k, x]) => [`${at}.${k}`, ...shape(x, `${at}.${k}`)]);
  }
  return [];
}

describe.skipIf(gate.skip)(`repro tcp-syn on the docker backend (real dockerd)${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('runs in containers behind the harness\'s MASQUERADE, the JSON adds up, and the host is left as found', async () => {
    const before = hostSnapshot();
    const out = mkdtempSync(path.join(tmpdir(), 'repro-docker-'));
    const r = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'docker', '--connections', '2000', '--modes', 'none,random-fully', '--json', '--out', out]);
    expect(r.stderr).toContain('docker backend');
    expect(r.code, r.stderr.slice(-600)).toBe(0);
    const result = JSON.parse(r.stdout) as ResultFile;
    expect(JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'))).toEqual(result);
    expect(result.environment.backend).toBe('docker');
    expect(result.environment.docker?.version).toMatch(/^\d+\./);
    expect(result.config.backend).toBe('docker');
    expect(result.modes.map((m) => m.mode)).toEqual(['none', 'random-fully']);
    for (const m of result.modes) {
      expect(m.attempts).toBe(2000);
      expect(m.succeeded + m.failed).toBe(m.attempts);
      expect(m.rule).toMatch(/-o rp[0-9a-f]{6}-cbr -j MASQUERADE/);
      // Counters come from the containers' own namespaces: every connect is seen on both sides.
      // A race loser's last ACK can trail the client's RST: the server counts it as an embryonic reset.
      expect((m.counters.server['TcpPassiveOpens'] ?? 0) + (m.counters.server['TcpExtEmbryonicRsts'] ?? 0)).toBeGreaterThanOrEqual(m.succeeded);
      expect(m.counters.clients['TcpActiveOpens']).toBeGreaterThanOrEqual(m.attempts);
      const a = m.attribution;
      // Every confirmed lost SYN was retransmitted (the kernel's TcpExtTCPSynRetrans), but a timed-out connect's last one.
      expect(a.lostSyns).toBeLessThanOrEqual((m.counters.clients['TcpExtTCPSynRetrans'] ?? 0) + (m.failures['ETIMEDOUT'] ?? 0));
      // The SYN capture in the host saw every SYN the containers sent, and the report names each race drop's colliding flow.
      const e = m.evidence;
      if (!e) throw new Error('no evidence in the result');
      expect(e.capturedDrops).toBe(0);
      expect(e.captured).toBe((m.counters.clients['TcpActiveOpens'] ?? 0) + (m.counters.clients['TcpExtTCPSynRetrans'] ?? 0));
      if (m.mode === 'none') {
        // The NAT keeps the port: the outer tuple a lost SYN needed is on the wire, so the capture decides.
        expect(m.attributionRule).toBe('evidence');
        expect(a.conntrackRace).toBeLessThanOrEqual(e.collisions);
      } else {
        // --random-fully: the port a lost SYN drew never reaches the wire, so no collision is named; the counters decide.
        expect(e.tupleKnown).toBe(false);
        expect(e.collisions).toBe(0);
        expect(m.attributionRule).toBe('counters');
      }
      const report = readFileSync(path.join(out, `repro-tcp-syn-${result.runId}.md`), 'utf8');
      for (const rec of e.records.slice(0, 5)) if (rec.collision) expect(report).toContain(`translated to ${rec.collision.translated}`);
    }
    expect(agentImages()).toHaveLength(1);
    expect(hostSnapshot()).toEqual(before);
    rmSync(out, { recursive: true, force: true });
  }, 240_000);

  it('gives results of the same shape as the netns backend for the same small run', async () => {
    const args = (backend: string): string[] => [
      'tcp-syn', '--load', 'steady', '--backend', backend, '--connections', '1000', '--modes', 'none,random', '--clients', '2', '--json',
      '--out', mkdtempSync(path.join(tmpdir(), 'repro-shape-')),
    ];
    const dockerRun = await runCli(args('docker'));
    const netnsRun = await runCli(args('netns'));
    expect(dockerRun.code, dockerRun.stderr.slice(-400)).toBe(0);
    expect(netnsRun.code, netnsRun.stderr.slice(-400)).toBe(0);
    const d = JSON.parse(dockerRun.stdout) as ResultFile;
    const n = JSON.parse(netnsRun.stdout) as ResultFile;
    expect(d.modes.map((m) => m.mode)).toEqual(n.modes.map((m) => m.mode));
    // What only the docker backend has: Docker's version, and each mode's background (the NAT is the host's, shared).
    // And what depends on the counts, not the backend: how a comparison would settle (a hint for 0 vs 0, else a power).
    const withoutDocker = (keys: string[]): string[] =>
      keys.filter((k) => !k.startsWith('.environment.docker') && !k.startsWith('.modes[].background') && !/^\.comparisons\[\]\.settle/.test(k)).sort();
    expect(withoutDocker(shape(d))).toEqual(withoutDocker(shape(n)));
  }, 240_000);

  it('on SIGINT during the load tears the containers, networks and rules down and writes a partial result', async () => {
    const before = hostSnapshot();
    const out = mkdtempSync(path.join(tmpdir(), 'repro-docker-int-'));
    let sent = false;
    const r = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'docker', '--connections', '500000', '--duration', '60', '--out', out], (text, child) => {
      if (!sent && /\b\d[\d,]* attempts\b/.test(text)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as ResultFile;
    expect(result.interrupted).toBe(true);
    for (const m of result.modes) expect(m.succeeded + m.failed).toBe(m.attempts);
    expect(hostSnapshot()).toEqual(before);
    rmSync(out, { recursive: true, force: true });
  }, 240_000);

  it('repro cleanup removes the containers and networks of a killed docker run', async () => {
    const before = hostSnapshot();
    await killedRun(['tcp-syn', '--load', 'steady', '--backend', 'docker', '--connections', '500000', '--duration', '60']);
    expect(hostSnapshot().docker.containers.some((c) => /^repro-[0-9a-f]{6}-/.test(c))).toBe(true);
    const c = await runCli(['cleanup']);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/removed [1-9]\d* containers, 2 docker networks/);
    expect(hostSnapshot()).toEqual(before);
  }, 240_000);
});

describe.skipIf(base.skip)('docker backend errors', () => {
  it('a daemon that does not answer is one line saying how to start it, exit 2, nothing created', async () => {
    const before = hostSnapshot();
    const r = await runCliEnv({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, ['tcp-syn', '--load', 'steady', '--backend', 'docker', '--connections', '100']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no Docker daemon answers at unix:\/\/\/nonexistent\/docker\.sock: start it/);
    expect(hostSnapshot()).toEqual(before);
  }, 60_000);
});
