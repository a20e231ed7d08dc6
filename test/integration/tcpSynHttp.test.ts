import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import { decodeHistogram } from '../../src/histogram.js';
import { kernelBandNames } from './kernelBands.js';
import type { LatencyMs, ModeResult, ResultFile } from '../../src/types.js';

const gate = capabilityGate();
const docker = gate.skip ? gate : dockerGate();
const REQUESTS = 2000;
const PERCENTILES: (keyof LatencyMs)[] = ['p50', 'p90', 'p99', 'p999', 'max'];

/** Run `tcp-syn --protocol http` for real; the JSON on stdout must be the file on disk. */
async function runHttp(extra: string[]): Promise<ResultFile> {
  const out = mkdtempSync(path.join(tmpdir(), 'repro-http-'));
  const r = await runCli(['tcp-syn', '--load', 'steady', '--protocol', 'http', '--connections', String(REQUESTS), '--modes', 'none,random-fully', '--duration', '20', '--json', '--out', out, ...extra]);
  expect(r.code, r.stderr.slice(-800)).toBe(0);
  const result = JSON.parse(r.stdout) as ResultFile;
  expect(JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'))).toEqual(result);
  // The terminal table shows request latency beside connect latency.
  expect(r.stderr).toMatch(/\nrequest p99 /);
  expect(r.stderr).toMatch(/\nconnect p99 /);
  rmSync(out, { recursive: true, force: true });
  return result;
}

/** What must hold for every HTTP mode, keep-alive or not. */
function checkMode(m: ModeResult, keepalive: boolean): NonNullable<ModeResult['http']> {
  expect(m.attempts).toBe(REQUESTS);
  expect(m.succeeded + m.failed).toBe(m.attempts);
  const http = m.http;
  expect(http, `${m.mode} has no http block`).toBeDefined();
  if (!http) throw new Error('unreachable');
  expect(http.keepalive).toBe(keepalive);
  // Both histograms are there and hold what the counts say.
  expect(decodeHistogram(http.requestHistogram).totalCount).toBe(m.succeeded);
  expect(decodeHistogram(m.histogram).totalCount).toBe(http.connects.succeeded);
  expect(http.connects.succeeded + http.connects.failed).toBe(http.connects.attempted);
  // The kernel saw exactly the connects the workers counted (each one sends a SYN; nothing else runs in the clients).
  expect(m.counters.clients['TcpActiveOpens']).toBe(http.connects.attempted);
  expect(m.counters.server['TcpPassiveOpens']).toBeGreaterThanOrEqual(http.connects.succeeded);
  // --close rst (the default): every connection the clients opened was closed by an RST, none by a FIN.
  expect(m.counters.clients['TcpOutRsts']).toBeGreaterThanOrEqual(http.connects.succeeded);
  for (const p of PERCENTILES) expect(http.requestLatencyMs[p], p).toBeGreaterThan(0);
  expect(http.requestLatencyMs.p50).toBeLessThanOrEqual(http.requestLatencyMs.p99);
  expect(http.requestLatencyMs.p99).toBeLessThanOrEqual(http.requestLatencyMs.max);
  const a = m.attribution;
  // Every confirmed lost SYN was retransmitted (TcpExtTCPSynRetrans), but a timed-out connect's last one.
  expect(a.lostSyns).toBeLessThanOrEqual((m.counters.clients['TcpExtTCPSynRetrans'] ?? 0) + (m.failures['ETIMEDOUT'] ?? 0));
  // The default 8 s connect timeout; the bands from this kernel's sysctls and a hand-written schedule.
  expect(Object.keys(m.signatures)).toEqual(kernelBandNames(8000));
  return http;
}

/** One fresh connection per request: as many connects as requests, and each request contains its connect. */
function checkFreshConnections(r: ResultFile): void {
  expect(r.config.protocol).toBe('http');
  expect(r.config.keepalive).toBe(false);
  for (const m of r.modes) {
    const http = checkMode(m, false);
    expect(http.connects.attempted).toBe(m.attempts);
    if (m.failed === 0) {
      // Every request's time includes its own connect, so every percentile of the request distribution is at
      // least that of the connect distribution (same count, and hdr's buckets keep the order).
      for (const p of PERCENTILES) expect(m.latencyMs[p], `${m.mode} connect ${p} <= request ${p}`).toBeLessThanOrEqual(http.requestLatencyMs[p]);
    }
  }
}

describe.skipIf(gate.skip)(`repro tcp-syn --protocol http on the netns backend (real kernel)${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('one fresh connection per request: two histograms that add up, and the host is left as found', async () => {
    const before = hostSnapshot();
    const r = await runHttp(['--backend', 'netns']);
    expect(r.modes.map((m) => m.mode)).toEqual(['none', 'random-fully']);
    checkFreshConnections(r);
    expect(hostSnapshot(), `host after run ${r.runId} (other runs alive at the time show up here too)`).toEqual(before);
  }, 150_000);

  it('--keepalive: pooled connections, so most requests open none; the connects that happened are counted', async () => {
    const before = hostSnapshot();
    const r = await runHttp(['--backend', 'netns', '--keepalive']);
    expect(r.config.keepalive).toBe(true);
    for (const m of r.modes) {
      const http = checkMode(m, true);
      // At most one connection per in-flight slot (4 clients x 2 workers x 16), unless one had to be replaced.
      expect(http.connects.attempted).toBeGreaterThan(0);
      expect(http.connects.attempted).toBeLessThan(m.attempts / 5);
      expect(m.notes.some((n) => n.startsWith(`keep-alive: ${m.attempts} requests opened only ${http.connects.attempted} TCP connects`))).toBe(true);
    }
    expect(hostSnapshot(), `host after run ${r.runId} (other runs alive at the time show up here too)`).toEqual(before);
  }, 150_000);
});

describe.skipIf(docker.skip)(`repro tcp-syn --protocol http on the docker backend${docker.skip ? ` — skipped: ${docker.reason}` : ''}`, () => {
  it('runs the same HTTP agents in containers (undici shipped in the image), and the host is left as found', async () => {
    const before = hostSnapshot();
    const r = await runHttp(['--backend', 'docker']);
    expect(r.environment.backend).toBe('docker');
    checkFreshConnections(r);
    expect(hostSnapshot(), `host after run ${r.runId} (other runs alive at the time show up here too)`).toEqual(before);
  }, 240_000);
});
