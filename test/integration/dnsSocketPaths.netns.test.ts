/**
 * The raw DNS client's three socket paths (the native engine, libuv handles through udp_wrap, dgram) against the
 * real kernel and the DNS server agent: same counts and answers, the same failure names (NXDOMAIN from the server,
 * ETIMEDOUT after glibc's tries against an address where nobody answers, retries counted), and a stop (stdin
 * closed) that ends the load at once with every lookup accounted for. The host is left as found.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot, type HostSnapshot } from './hostSnapshot.js';
import { decodeHistogram } from '../../src/histogram.js';
import type { Topology } from '../../src/backends/topology.js';
import type { AgentConnection } from '../../src/runner/agentConnection.js';
import type { RunSession } from '../../src/runner/runSession.js';
import type { DnsClientConfig, DnsClientResultEvent, DnsServerConfig, RawSocketPath } from '../../src/agents/dns/protocol.js';
import { underCi } from '../ci.js';

const gate = capabilityGate();
const ENGINE = new URL('../../dist/native/dns_engine.node', import.meta.url).pathname;
// The engine is built by `npm run build` (pretest); without make/gcc it is skipped here, but not under CI.
if (!existsSync(ENGINE) && underCi()) throw new Error(`${ENGINE} is missing under CI (npm run build needs make and gcc)`);
const PATHS: RawSocketPath[] = existsSync(ENGINE) ? ['native', 'udp_wrap', 'dgram'] : ['udp_wrap', 'dgram'];
const ZONE = 'paths.repro.test';
const PORT = 53;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(gate.skip)(`raw DNS client socket paths on the real kernel${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  let before: HostSnapshot;
  let session: RunSession | undefined;
  let topo: Topology | undefined;
  let server: AgentConnection | undefined;
  let sink: ChildProcess | undefined;
  let backend = '';
  let silent = '';

  const config = (sockets: RawSocketPath, over: Partial<DnsClientConfig>): DnsClientConfig => ({
    kind: 'raw', server: backend, port: PORT, zone: ZONE, workers: 2, concurrency: 8, lookups: 2000, durationMs: 20_000,
    timeoutMs: 5000, attempts: 2, nameOffset: 0, burstPorts: [61000, 61100], progressIntervalMs: 200, sockets, ...over,
  });

  /** One client agent in the client namespace; `whileRunning` gets it once released. */
  async function lookups(cfg: DnsClientConfig, whileRunning?: (a: AgentConnection) => Promise<void>): Promise<DnsClientResultEvent> {
    const t = topo;
    const c = t?.clients[0];
    if (!t || !c) throw new Error('no topology');
    const agent = await t.startAgent(c, { label: 'dns client', agent: 'dns/client', config: cfg, priority: 'normal' });
    try {
      await agent.waitFor('ready', 30_000);
      agent.send('start');
      const result = agent.waitFor('dns-result', 60_000);
      await whileRunning?.(agent);
      return await result;
    } finally {
      await agent.stop();
    }
  }

  beforeAll(async () => {
    before = hostSnapshot();
    const { RunSession: Session } = (await import('../../dist/runner/runSession.js')) as typeof import('../../src/runner/runSession.js');
    const { buildNetnsTopology } = (await import('../../dist/backends/netns/topology.js')) as typeof import('../../src/backends/netns/topology.js');
    const { dnsServiceAddresses } = (await import('../../dist/scenarios/dns/serviceAddresses.js')) as typeof import('../../src/scenarios/dns/serviceAddresses.js');
    const { installRules } = (await import('../../dist/host/iptables.js')) as typeof import('../../src/host/iptables.js');
    session = await Session.open('dns socket paths test');
    const { runId, state } = session;
    topo = await buildNetnsTopology({ runId, clients: 1, portRange: [40000, 49999], serverSysctls: {}, clientSysctls: {} }, state);
    const t = topo;
    const x = dnsServiceAddresses(t);
    // Two addresses of the server subnet this test created: the server agent answers on the first; on the
    // second a socket of the test receives and never answers (no ICMP either: the lookups can only time out).
    [backend = '', silent = ''] = await x.addBackends(2);
    await x.routeServerToClients();
    await installRules({ runId, clientSubnet: t.clientSubnet, clientBridge: t.clientBridge, serverSubnet: t.serverSubnet, forwardHook: t.forwardHook, netns: t.natNetns });
    const serverCfg: DnsServerConfig = { zone: ZONE, addresses: [backend], port: PORT, workers: 2, recvBufferBytes: 4 * 1024 * 1024 };
    server = await t.startAgent(t.server, { label: 'dns server agent', agent: 'dns/server', config: serverCfg, priority: 'high' });
    await server.waitFor('ready', 30_000);
    const script = `const s = require('dgram').createSocket('udp4'); s.bind(${PORT}, '${silent}', () => console.log('ready')); s.on('message', () => undefined);`;
    const p = spawn('ip', ['netns', 'exec', t.server.name, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    sink = p;
    await new Promise<void>((resolve, reject) => {
      p.stdout?.on('data', () => resolve());
      p.on('exit', (code) => reject(new Error(`the silent sink exited ${code}`)));
    });
  }, 90_000);

  afterAll(async () => {
    if (sink?.pid !== undefined && sink.exitCode === null) {
      const exited = new Promise((r) => sink?.on('exit', r));
      process.kill(sink.pid, 'SIGKILL');
      await exited;
    }
    await server?.stop();
    await topo?.teardown().catch(() => undefined);
    await session?.removeHostState();
    await session?.close();
    expect(hostSnapshot()).toEqual(before);
  }, 60_000);

  it.each(PATHS)('%s: every lookup gets both answers, each counted once, no retries', async (path) => {
    const r = await lookups(config(path, { lookups: 4000, nameOffset: 100_000 }));
    expect(r.socketPath).toBe(path);
    expect(r).toMatchObject({ lookups: 4000, succeeded: 4000, failed: 0, failures: {}, queriesSent: 8000, retries: 0, partial: 0, aborted: false });
    const h = decodeHistogram(r.histogram);
    expect(h.totalCount).toBe(4000);
    expect(h.minNonZeroValue).toBeGreaterThan(0);
    expect(h.maxValue).toBeLessThan(1_000_000); // no lookup waited for a retry
    h.destroy();
    expect(r.resources?.peakRssKb).toBeGreaterThan(10_000);
  }, 60_000);

  it.each(PATHS)('%s: names outside the server\'s zone fail as NXDOMAIN, at the first answer', async (path) => {
    const r = await lookups(config(path, { lookups: 400, zone: 'elsewhere.repro.test' }));
    expect(r.socketPath).toBe(path);
    expect(r).toMatchObject({ lookups: 400, succeeded: 0, failed: 400, failures: { NXDOMAIN: 400 }, queriesSent: 800, retries: 0 });
    const f = decodeHistogram(r.failureHistogram);
    expect(f.totalCount).toBe(400);
    f.destroy();
  }, 60_000);

  it.each(PATHS)('%s: an address where nobody answers times out after glibc\'s tries (ETIMEDOUT, retries counted)', async (path) => {
    // timeout 1 s, 2 tries: each lookup sends A+AAAA twice and fails at ~2 s.
    const r = await lookups(config(path, { server: silent, lookups: 6, workers: 1, concurrency: 3, timeoutMs: 1000, attempts: 2 }));
    expect(r.socketPath).toBe(path);
    expect(r).toMatchObject({ lookups: 6, succeeded: 0, failed: 6, failures: { ETIMEDOUT: 6 }, queriesSent: 24, retries: 12, aborted: false });
    const f = decodeHistogram(r.failureHistogram);
    expect(f.totalCount).toBe(6);
    expect(f.minNonZeroValue).toBeGreaterThanOrEqual(1_990_000);
    expect(f.maxValue).toBeLessThan(2_500_000);
    f.destroy();
  }, 60_000);

  it.each(PATHS)('%s: closing stdin stops the load at once, every lookup accounted for', async (path) => {
    let closedAt = 0;
    const r = await lookups(config(path, { server: silent, lookups: 1000, workers: 2, concurrency: 8, timeoutMs: 5000, attempts: 2 }), async (agent) => {
      await sleep(500);
      closedAt = Date.now();
      agent.closeInput();
    });
    // "At once": before the in-flight lookups' own 5 s timeout would have ended them (how fast is the bench's business).
    expect(Date.now() - closedAt).toBeLessThan(5000);
    expect(r.socketPath).toBe(path);
    // 2 workers x 8 in flight, each waiting for a 5 s timeout: given up, counted as ABORTED.
    expect(r).toMatchObject({ lookups: 16, succeeded: 0, failed: 16, failures: { ABORTED: 16 }, aborted: true });
    expect(r.succeeded + r.failed).toBe(r.lookups);
  }, 60_000);
});
