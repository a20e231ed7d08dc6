import type { AgentConnection } from '../../runner/agentConnection.js';
import { RunSession } from '../../runner/runSession.js';
import { buildNetnsTopology } from '../../backends/netns/topology.js';
import type { Topology } from '../../backends/topology.js';
import type { BuildTopology } from '../../backends/choose.js';
import { conntrackDelta, readConntrackStat, type ConntrackStat } from '../../host/conntrackStat.js';
import { netCountersDelta, sumCounters, type NetCounters } from '../../host/netstat.js';
import { deleteEntriesFromSubnet } from '../../host/conntrackTable.js';
import { netnsDnsExtras, type DnsTopologyExtras } from '../../backends/dnsExtras.js';
import {
  applyBatch, installRules, noNatBatch, notrackBatch, ownsNotrackPath, removeRules,
  serviceBatch, setMasqueradeMode, tablesToBeCreated, type SnatTopology,
} from '../../host/iptables.js';
import { analyzeDnsMode, DNS_TOLERANCE_DESCRIPTION } from './analyze.js';
import { SLOW_THRESHOLD_MS } from '../../analysis/signatures.js';
import { collectEnvironment } from '../../host/environment.js';
import { affectsOnlyLibc, planDnsMode, type DnsMode, type DnsModePlan } from './modes.js';
import { NSSWITCH_DNS_ONLY, renderResolvConf } from '../../agents/dns/glibcResolver.js';
import type { ModeResult, OtherScenarioConfig, ResultFile } from '../../types.js';
import { relayClientProgress, type ScenarioHooks } from '../../runner/hooks.js';
import { resultBase } from '../shared/resultBase.js';
import type { DnsClientConfig, DnsClientKind, DnsClientResultEvent, DnsServerConfig } from '../../agents/dns/protocol.js';

export interface DnsOptions {
  modes: DnsMode[];
  client: DnsClientKind;
  clients: number;
  workers: number;
  concurrency: number;
  /** Lookups per mode over all clients (burst: queries). */
  queries: number;
  durationSec: number;
  backends: number;
  vip: boolean;
  zone: string;
  timeoutMs: number;
  attempts: number;
  serverWorkers: number;
  port: number;
  detectRatePer100k: number;
}

/** Clients' ephemeral ports, and the block below it the burst rounds rotate through (never handed out by the kernel). */
export const CLIENT_PORT_RANGE: [number, number] = [32768, 60999];
export const BURST_PORTS: [number, number] = [10000, 32767];
const SERVER_RECV_BUFFER = 8 * 1024 * 1024;

const CONNTRACK_KEYS = ['insert_failed', 'drop', 'clashres'];
const CLIENT_KEYS = ['UdpOutDatagrams', 'UdpInDatagrams', 'UdpRcvbufErrors', 'UdpInErrors'];
const SERVER_KEYS = ['UdpInDatagrams', 'UdpOutDatagrams', 'UdpRcvbufErrors', 'UdpInErrors', 'TcpPassiveOpens'];
/** Names differ between clients (h<offset+n>.zone), so no answer can be mistaken for another client's. */
const NAMES_PER_CLIENT = 10_000_000;

interface Snapshot {
  conntrack: ConntrackStat;
  clients: NetCounters[];
  server: NetCounters;
}

async function snapshot(t: Topology): Promise<Snapshot> {
  const [conntrack, server, ...clients] = await Promise.all([readConntrackStat(), t.readCounters(t.server), ...t.clients.map((c) => t.readCounters(c))]);
  return { conntrack, server, clients };
}

/** Keep every nonzero delta plus the named keys the kernel has. */
function pickConntrack(delta: Record<string, number>, columns: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(delta)) if (v !== 0 || CONNTRACK_KEYS.includes(k)) out[k] = v;
  for (const k of CONNTRACK_KEYS) if (!(k in out) && columns.includes(k)) out[k] = 0;
  return out;
}

export type BuildDnsExtras = (t: Topology) => DnsTopologyExtras;

/** `repro dns` on the netns backend. */
export function runDnsNetns(opts: DnsOptions, command: string, hooks: ScenarioHooks = {}): Promise<ResultFile> {
  return runDns(opts, command, buildNetnsTopology, netnsDnsExtras, hooks);
}

/** Notes for a mode whose effect depends on the client kind or the path. */
function modeNotes(plan: DnsModePlan, client: DnsClientKind, vip: boolean): string[] {
  const notes: string[] = [];
  if (affectsOnlyLibc(plan.mode) && client !== 'libc') {
    notes.push(`${plan.mode} is a resolv.conf option: only glibc's resolver (--client libc) reads it; with --client ${client} this mode is the same as MASQUERADE without a flag`);
  }
  if (plan.notrack && vip) notes.push('notrack: the clients ask a backend directly, not the VIP (DNAT needs conntrack), as with a node-local DNS cache');
  return notes;
}

/**
 * `repro dns`: build the topology, a DNS server on every backend address, the service VIP (kube-proxy's shape)
 * when asked; then for each mode set the NAT/NOTRACK rules and the clients' resolv.conf, run the lookups from
 * every client at once, and diff the kernel's counters around them. Everything created goes in `finally`.
 */
export async function runDns(opts: DnsOptions, command: string, build: BuildTopology, extrasFor: BuildDnsExtras, hooks: ScenarioHooks = {}): Promise<ResultFile> {
  const session = await RunSession.open(command, hooks);
  const { runId, startedAt, state, phase } = session;

  let topo: Topology | null = null;
  let extras: DnsTopologyExtras | null = null;
  let server: AgentConnection | null = null;
  let clients: AgentConnection[] = [];
  const modes: ModeResult[] = [];

  try {
    phase(`topology: ${opts.clients} clients and a DNS server with ${opts.backends} backend addresses (run ${runId})`);
    topo = await build({ runId, clients: opts.clients, portRange: CLIENT_PORT_RANGE, serverSysctls: {}, clientSysctls: {} }, state);
    const t = topo;
    const x = extrasFor(t);
    extras = x;
    const backends = await x.addBackends(opts.backends);
    await x.routeServerToClients();
    const vip = x.vipAddress();
    phase(`${t.backend}: clients on ${t.clientSubnet}, DNS backends ${backends.join(', ')}${opts.vip ? `, service VIP ${vip}` : ''}`);

    const snat: SnatTopology = { runId, clientSubnet: t.clientSubnet, clientBridge: t.clientBridge, serverSubnet: t.serverSubnet, forwardHook: t.forwardHook };
    const needsRaw = opts.modes.includes('notrack');
    for (const table of await tablesToBeCreated(needsRaw ? ['nat', 'filter', 'raw'] : ['nat', 'filter'])) await state.add('tables', table);
    await installRules(snat);
    if (opts.vip) await applyBatch(serviceBatch({ runId, clientSubnet: t.clientSubnet, vip, port: opts.port, backends }));
    const environment = await collectEnvironment(t.backend, t.docker);
    const config: OtherScenarioConfig = {
      ...opts, backend: t.backend, clientSubnet: t.clientSubnet, serverSubnet: t.serverSubnet, vipAddress: opts.vip ? vip : null, backendAddresses: backends,
    };

    const serverCfg: DnsServerConfig = { zone: opts.zone, addresses: backends, port: opts.port, workers: opts.serverWorkers, recvBufferBytes: SERVER_RECV_BUFFER };
    server = await t.startAgent(t.server, { label: 'dns server agent', agent: 'dns/server', config: serverCfg, priority: 'high' });
    await server.waitFor('ready', 30_000);

    for (const [index, mode] of opts.modes.entries()) {
      if (session.interrupted) break;
      const plan = planDnsMode(mode, opts.vip);
      const target = plan.viaVip ? vip : backends[0] ?? t.server.address;
      let rule: string;
      if (plan.notrack) {
        await applyBatch(noNatBatch(runId));
        await applyBatch(notrackBatch({ runId, clientSubnet: t.clientSubnet, serverSubnet: t.serverSubnet, port: opts.port, forwardHook: t.forwardHook }));
        rule = `no NAT; raw PREROUTING: -p udp --dport/--sport ${opts.port} between ${t.clientSubnet} and ${t.serverSubnet} -j CT --notrack`;
      } else {
        rule = await setMasqueradeMode(snat, plan.masquerade ?? 'none');
        if (plan.viaVip) rule += `; DNAT ${vip}:${opts.port} -> ${backends.length} backends (statistic --mode random)`;
      }
      let resolvConf: string | undefined;
      if (opts.client === 'libc') {
        const text = renderResolvConf({ nameserver: target, timeoutMs: opts.timeoutMs, attempts: opts.attempts, options: plan.resolverOptions });
        resolvConf = text;
        for (const c of t.clients) await x.writeResolver(c, text, NSSWITCH_DNS_ONLY);
      }
      await deleteEntriesFromSubnet(t.clientSubnet);
      phase(`mode ${mode}: ${rule}`);
      const before = await snapshot(t);

      const perClient = (i: number): number => Math.floor(opts.queries / opts.clients) + (i < opts.queries % opts.clients ? 1 : 0);
      clients = session.load = await Promise.all(
        t.clients.map((c, i) => {
          const cfg: DnsClientConfig = {
            kind: opts.client, server: target, port: opts.port, zone: opts.zone, workers: opts.workers, concurrency: opts.concurrency,
            lookups: perClient(i), durationMs: opts.durationSec * 1000, timeoutMs: opts.timeoutMs, attempts: opts.attempts,
            nameOffset: (index * opts.clients + i) * NAMES_PER_CLIENT, burstPorts: BURST_PORTS, progressIntervalMs: 500,
          };
          return t.startAgent(c, { label: `dns client agent ${i}`, agent: 'dns/client', config: cfg, priority: 'normal' });
        }),
      );
      await Promise.all(clients.map((c) => c.waitFor('ready', 30_000)));
      if (session.interrupted) break;

      relayClientProgress(clients, hooks, { mode, index, total: opts.modes.length, target: opts.queries });
      for (const c of clients) c.send('start');
      // Bounded: the agents stop at their quota or duration; a lookup in flight ends within attempts x timeout.
      const limitMs = opts.durationSec * 1000 + opts.timeoutMs * opts.attempts + 15_000;
      const results = await Promise.all(clients.map((c) => c.waitFor('dns-result', limitMs)));
      const durationMs = Math.max(...results.map((r) => r.elapsedMs));
      await Promise.all(clients.map((c) => c.stop()));
      clients = session.load = [];
      await new Promise((r) => setTimeout(r, 200));
      const after = await snapshot(t);
      if (plan.notrack) await removeRules(ownsNotrackPath(runId));

      const counters = {
        conntrack: pickConntrack(conntrackDelta(before.conntrack, after.conntrack), after.conntrack.columns),
        clients: sumCounters(before.clients.map((b, i) => netCountersDelta(b, after.clients[i] ?? b, CLIENT_KEYS))),
        server: netCountersDelta(before.server, after.server, SERVER_KEYS),
      };
      const m = analyzeDnsMode({
        mode, rule, clients: results.map(toOutcome), counters, durationMs, timeoutMs: opts.timeoutMs, attempts: opts.attempts,
        detectRatePer100k: opts.detectRatePer100k, notes: modeNotes(plan, opts.client, opts.vip), ...(resolvConf === undefined ? {} : { resolvConf }),
      });
      if (results.some((r) => r.aborted)) session.interrupted = true;
      modes.push(m);
      hooks.onModeDone?.(m);
    }

    return {
      ...resultBase({ runId, startedAt, command, interrupted: session.interrupted, environment, modes, summary: summarizeDns(modes) }),
      signatureBands: { description: DNS_TOLERANCE_DESCRIPTION, slowThresholdMs: SLOW_THRESHOLD_MS },
      scenario: 'dns',
      config,
    };
  } finally {
    phase('teardown');
    for (const c of clients) c.kill();
    if (server) await server.stop();
    if (extras) await extras.removeResolvers().catch(() => undefined);
    if (topo) await topo.teardown().catch(() => undefined);
    await session.removeHostState();
    await session.close();
  }
}

function toOutcome(r: DnsClientResultEvent): Parameters<typeof analyzeDnsMode>[0]['clients'][number] {
  return {
    lookups: r.lookups, succeeded: r.succeeded, failed: r.failed, failures: r.failures, histogram: r.histogram,
    queriesSent: r.queriesSent, retries: r.retries, partial: r.partial, ...(r.socketPath ? { socketPath: r.socketPath } : {}),
  };
}

export function summarizeDns(modes: readonly ModeResult[]): string {
  return modes
    .map((m) => `${m.mode}: ${m.verdict} (${m.attribution.conntrackRace} race drops, ${m.attribution.lostSyns} lost queries in ${m.attempts} lookups, clashres +${m.counters.conntrack['clashres'] ?? 0})`)
    .join('; ');
}
