/**
 * The TCP client agent's three connect paths (native engine, libuv handles, net.Socket) against the real kernel,
 * through the host's MASQUERADE to the server agent's sink: same counts, same failure names, same close
 * semantics (RST leaves no TIME-WAIT, FIN does), a stop that ends the load at once, and the host left as found.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot, type HostSnapshot } from './hostSnapshot.js';
import { decodeHistogram } from '../../src/histogram.js';
import type { TcpLab, LabClientConfig } from '../../src/scenarios/shared/tcpLab.js';
import type { AgentEvent, TcpServerStatsEvent } from '../../src/agents/common/protocol.js';
import type { ClientConnectPath } from '../../src/agents/tcp/connector.js';

const gate = capabilityGate();
const PATHS: ClientConnectPath[] = ['native', 'handle', 'socket'];
const PORT = 8080;

const load = (over: Partial<LabClientConfig>): LabClientConfig => ({
  workers: 2, concurrency: 8, connections: 1000, durationMs: 20_000, connectTimeoutMs: 5000, close: 'rst', progressIntervalMs: 200, ...over,
});

/** Sockets in a namespace other than the listener, by state (ss -Htan). */
function sockets(netns: string): string[] {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-Htan'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('LISTEN')).map((l) => l.split(/\s+/)[0] ?? '');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(gate.skip)(`TCP client connect paths on the real kernel${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  let lab: TcpLab;
  let before: HostSnapshot;

  /** The server's accepted count now: give its sink a moment to accept the last connects, then ask (the answer counts every accept so far). */
  async function accepted(): Promise<number> {
    await sleep(700);
    const seen = lab.server.events.filter((e) => e.type === 'stats').length;
    lab.server.send('stats');
    for (let i = 0; i < 100; i++) {
      const stats = lab.server.events.filter((e: AgentEvent): e is TcpServerStatsEvent => e.type === 'stats');
      if (stats.length > seen) return stats[stats.length - 1]?.accepted ?? 0;
      await sleep(20);
    }
    throw new Error('the server agent did not answer "stats"');
  }

  beforeAll(async () => {
    before = hostSnapshot();
    const { openTcpLab } = (await import('../../dist/scenarios/shared/tcpLab.js')) as typeof import('../../src/scenarios/shared/tcpLab.js');
    lab = await openTcpLab({ command: 'connect paths test', clients: 2, portRange: [40000, 49999], serverPort: PORT, serverWorkers: 2, mode: 'random-fully' });
    // The server's ACK of the client's FIN can arrive after its own FIN (seen here); the client's TIME-WAIT then
    // answers it, the server (closed) resets, and the RST kills the TIME-WAIT (RFC 1337 assassination). The
    // clients' namespaces ignore RSTs in TIME-WAIT so that the FIN test counts what the close itself left.
    for (const c of lab.topology.clients) execFileSync('ip', ['netns', 'exec', c.name, 'sysctl', '-qw', 'net.ipv4.tcp_rfc1337=1']);
  }, 60_000);

  afterAll(async () => {
    await lab?.close();
    expect(hostSnapshot()).toEqual(before);
  }, 60_000);

  it('the server agent accepts into its bare sink', async () => {
    // A lab just opened: no client has connected yet, so the sink has accepted nothing (the tests below count from here).
    expect(await accepted()).toBe(0);
    const stats = lab.server.events.find((e): e is TcpServerStatsEvent => e.type === 'stats');
    expect(stats?.acceptPath).toBe('handle');
  }, 10_000);

  it.each(PATHS)('%s: every connect succeeds, is counted once, closed with RST, and the server closes its side', async (path) => {
    const acceptedBefore = await accepted();
    const results = await lab.runClients(load({ connectPath: path }));
    for (const r of results) {
      expect(r.connectPath).toBe(path);
      expect(r).toMatchObject({ attempts: 1000, succeeded: 1000, failed: 0, aborted: false });
      const h = decodeHistogram(r.histogram);
      expect(h.totalCount).toBe(1000);
      expect(h.minNonZeroValue).toBeGreaterThan(0);
      h.destroy();
      expect(r.resources?.cpuMs).toBeGreaterThan(0);
      expect(r.resources?.peakRssKb).toBeGreaterThan(10_000);
    }
    expect((await accepted()) - acceptedBefore).toBe(2000);
    // RST: no TIME-WAIT on the client side; the sink saw each reset and closed: nothing left on the server.
    for (const c of lab.topology.clients) expect(sockets(c.name).filter((s) => s === 'TIME-WAIT')).toEqual([]);
    expect(sockets(lab.topology.server.name)).toEqual([]);
  }, 60_000);

  it.each(PATHS)('%s: FIN close leaves the client in TIME-WAIT and the server with nothing', async (path) => {
    const results = await lab.runClients(load({ connectPath: path, connections: 200, close: 'fin' }));
    for (const r of results) expect(r).toMatchObject({ attempts: 200, succeeded: 200, failed: 0 });
    // The last FIN-WAITs become TIME-WAIT (and the sink's LAST-ACKs close) in flight: give a loaded machine a few seconds.
    const timeWaits = (): number[] => lab.topology.clients.map((c) => sockets(c.name).filter((st) => st === 'TIME-WAIT').length);
    const settled = (): boolean => timeWaits().every((n) => n >= 200) && sockets(lab.topology.server.name).length === 0;
    for (let i = 0; i < 50 && !settled(); i++) await sleep(100);
    for (const n of timeWaits()) expect(n).toBeGreaterThanOrEqual(200);
    expect(sockets(lab.topology.server.name)).toEqual([]);
  }, 60_000);

  it.each(PATHS)('%s: a port without a listener fails every attempt as ECONNREFUSED', async (path) => {
    const results = await lab.runClients(load({ connectPath: path, connections: 100, port: PORT + 1 }));
    for (const r of results) {
      expect(r).toMatchObject({ attempts: 100, succeeded: 0, failed: 100, failures: { ECONNREFUSED: 100 } });
      expect(decodeHistogram(r.failureHistogram).totalCount).toBe(100);
    }
  }, 60_000);

  it.each(PATHS)('%s: a host that never answers times out after the connect timeout', async (path) => {
    // An address of the server's subnet that nobody holds: the SYN goes no further than our own veth. One per path:
    // once the host's ARP for an address has failed (~3 s), it answers at once with EHOSTUNREACH instead.
    const [net] = lab.topology.serverSubnet.split('/');
    const unheld = (net ?? '').replace(/\.\d+$/, `.${200 + PATHS.indexOf(path)}`);
    expect(unheld).not.toBe(lab.topology.server.address);
    const results = await lab.runClients(load({ connectPath: path, workers: 1, concurrency: 4, connections: 8, connectTimeoutMs: 400, host: unheld }));
    for (const r of results) {
      expect(r).toMatchObject({ attempts: 8, succeeded: 0, failed: 8, failures: { ETIMEDOUT: 8 } });
      const f = decodeHistogram(r.failureHistogram);
      expect(f.minNonZeroValue).toBeGreaterThanOrEqual(399_000);
      expect(f.maxValue).toBeLessThan(1_000_000);
    }
  }, 60_000);

  it.each(PATHS)('%s: closing the agent\'s input stops the load at once and every attempt is accounted for', async (path) => {
    const started = Date.now();
    const results = await lab.runClients(load({ connectPath: path, connections: 10_000_000, durationMs: 30_000 }), (agents) => {
      setTimeout(() => agents.forEach((a) => a.closeInput()), 500);
    });
    // Well before the 30 s the load was given (the agents stop on their own input closing, not at the duration).
    expect(Date.now() - started).toBeLessThan(20_000);
    for (const r of results) {
      expect(r.aborted).toBe(true);
      expect(r.attempts).toBeGreaterThan(0);
      expect(r.attempts).toBeLessThan(10_000_000);
      expect(r.succeeded + r.failed).toBe(r.attempts);
    }
  }, 60_000);
});
