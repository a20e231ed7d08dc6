import {
  applyBatch, noNatBatch, notrackBatch, ownsNotrackPath, removeRules, serviceBatch, setMasqueradeMode, verifyRules,
} from '../../host/iptables.js';
import { collectEnvironment } from '../../host/environment.js';
import { SLOW_THRESHOLD_MS } from '../../analysis/signatures.js';
import { NSSWITCH_DNS_ONLY, renderResolvConf } from '../../agents/dns/glibcResolver.js';
import type { DnsClientConfig, DnsClientKind, DnsClientResultEvent, DnsServerConfig } from '../../agents/dns/protocol.js';
import type { ModeResult, OtherScenarioConfig, ResultFile, TcpSynLoad } from '../../types.js';
import { withRun } from '../shared/runScope.js';
import { labCounters, labSnapshot, natBackground, openNatLab, type ReportedCounters, shareOf, startOnEveryClient, startRunAgent } from '../shared/natLab.js';
import { runModes } from '../shared/modeLoop.js';
import { resultBase } from '../shared/resultBase.js';
import { PROGRESS_INTERVAL_MS } from '../shared/timing.js';
import type { RunContext } from '../shared/definition.js';
import { analyzeDnsMode, DNS_TOLERANCE_DESCRIPTION } from './analyze.js';
import { affectsOnlyLibc, planDnsMode, type DnsModePlan } from './modes.js';
import { dnsServiceAddresses } from './serviceAddresses.js';
import { requireConntrackHeadroom } from '../shared/headroom.js';
import { BURST_PORTS, CLIENT_PORT_RANGE, clientPhases, type DnsOptions } from './options.js';

/** The DNS server's receive buffer per socket: a burst of lookups must never overflow it. */
const SERVER_RECV_BUFFER = 8 * 1024 * 1024;

const REPORTED: ReportedCounters = {
  conntrack: ['insert_failed', 'drop', 'clashres'],
  clients: ['UdpOutDatagrams', 'UdpInDatagrams', 'UdpRcvbufErrors', 'UdpInErrors'],
  server: ['UdpInDatagrams', 'UdpOutDatagrams', 'UdpRcvbufErrors', 'UdpInErrors', 'TcpPassiveOpens'],
};
/** Names differ between clients (h<offset+n>.zone), so no answer can be mistaken for another client's. */
const NAMES_PER_CLIENT = 10_000_000;


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
 * every client at once, and diff the kernel's counters around them. Everything created goes when the run ends.
 */
export function runDns(opts: DnsOptions, ctx: RunContext): Promise<ResultFile> {
  return withRun(ctx.command, ctx.hooks, async (scope) => {
    const { session } = scope;
    const { runId, phase } = session;
    // A fresh source port per lookup (a burst round shares one): one UDP entry each, alive for the UDP timeout.
    const ports = CLIENT_PORT_RANGE[1] - CLIENT_PORT_RANGE[0] + 1;
    await requireConntrackHeadroom(ctx.backend, Math.min(opts.queries, opts.clients * ports), '--queries or --clients');
    phase(`topology: ${opts.clients} clients and a DNS server with ${opts.backends} backend addresses (run ${runId})`);
    const { topology: t, snat } = await openNatLab(
      scope, ctx.build,
      { runId, clients: opts.clients, portRange: CLIENT_PORT_RANGE, serverSysctls: {}, clientSysctls: {} },
      opts.modes.includes('notrack') ? ['nat', 'filter', 'raw'] : ['nat', 'filter'],
    );
    const service = dnsServiceAddresses(t);
    const backends = await service.addBackends(opts.backends);
    await service.routeServerToClients();
    const vip = service.vipAddress();
    phase(`${t.backend}: clients on ${t.clientSubnet}, DNS backends ${backends.join(', ')}${opts.vip ? `, service VIP ${vip}` : ''}`);
    if (opts.vip) await applyBatch(serviceBatch({ runId, clientSubnet: t.clientSubnet, vip, port: opts.port, backends }), t.natNetns);
    const environment = await collectEnvironment(t.backend, t.docker, t.natNetns);
    const config: OtherScenarioConfig = {
      ...opts, backend: t.backend, clientSubnet: t.clientSubnet, serverSubnet: t.serverSubnet, vipAddress: opts.vip ? vip : null, backendAddresses: backends,
    };

    const serverCfg: DnsServerConfig = { zone: opts.zone, addresses: backends, port: opts.port, workers: opts.serverWorkers, recvBufferBytes: SERVER_RECV_BUFFER };
    await startRunAgent(scope, t, t.server, { label: 'dns server agent', agent: 'dns/server', config: serverCfg, priority: 'high' });

    const targetOf = (plan: DnsModePlan): string => (plan.viaVip ? vip : backends[0] ?? t.server.address);
    // The resolv.conf the libc clients read in the current mode: its timeout and attempts are the analysis's.
    let resolvConf: string | undefined;
    const phases = clientPhases(opts);
    // --client both: the provoking burst client first (does this path race at all), then glibc, on one lab.
    const both = phases.length > 1;
    const modes: ModeResult[] = [];
    let offset = 0;
    for (const { client, modes: phaseModes } of phases) {
      if (session.interrupted) break;
      if (both) phase(`${client === 'burst' ? 'burst client: does the path race at all (lockstep queries from one source port)' : "glibc: what a workload's lookups meet"}`);
      const load: TcpSynLoad = client === 'burst' ? 'burst' : 'steady';
      const first = offset;
      offset += phaseModes.length;
      const entries = await runModes(session, ctx.hooks, phaseModes, {
        name: (mode) => (both ? `${mode} (${client})` : mode),
        prepare: async (mode) => {
          const plan = planDnsMode(mode, opts.vip);
          let rule: string;
          if (plan.notrack) {
            await applyBatch(noNatBatch(runId), t.natNetns);
            await applyBatch(notrackBatch({ runId, clientSubnet: t.clientSubnet, serverSubnet: t.serverSubnet, port: opts.port, forwardHook: t.forwardHook }), t.natNetns);
            rule = `no NAT; raw PREROUTING: -p udp --dport/--sport ${opts.port} between ${t.clientSubnet} and ${t.serverSubnet} -j CT --notrack`;
          } else {
            rule = await setMasqueradeMode(snat, plan.masquerade ?? 'none');
            if (plan.viaVip) rule += `; DNAT ${vip}:${opts.port} -> ${backends.length} backends (statistic --mode random)`;
          }
          resolvConf = undefined;
          if (client === 'libc') {
            const text = renderResolvConf({ nameserver: targetOf(plan), timeoutMs: opts.timeoutMs, attempts: opts.attempts, options: plan.resolverOptions });
            resolvConf = text;
            for (const c of t.clients) await t.resolvers.write(c, text, NSSWITCH_DNS_ONLY);
          }
          return rule;
        },
        clearEntries: () => t.clearNatEntries(),
        snapshot: () => labSnapshot(t),
        background: natBackground(t),
        // notrack takes the NAT rule out on purpose; every other mode runs through it.
        verify: async (mode) => {
          const plan = planDnsMode(mode, opts.vip);
          return plan.notrack ? [] : verifyRules(snat, plan.masquerade ?? 'none');
        },
        startLoad: (mode, index) => {
          const server = targetOf(planDnsMode(mode, opts.vip));
          return startOnEveryClient(t, (_, i) => {
            const cfg: DnsClientConfig = {
              kind: client, server, port: opts.port, zone: opts.zone, workers: opts.workers, concurrency: opts.concurrency,
              lookups: shareOf(opts.queries, opts.clients, i), durationMs: opts.durationSec * 1000, timeoutMs: opts.timeoutMs, attempts: opts.attempts,
              nameOffset: ((first + index) * opts.clients + i) * NAMES_PER_CLIENT, burstPorts: BURST_PORTS, progressIntervalMs: PROGRESS_INTERVAL_MS,
            };
            return { label: `dns client agent ${i}`, agent: 'dns/client', config: cfg, priority: 'normal' };
          });
        },
        resultEvent: 'dns-result',
        target: opts.queries,
        // A lookup in flight ends within attempts x timeout.
        loadBoundMs: opts.durationSec * 1000 + opts.timeoutMs * opts.attempts,
        boundText: '--duration + the resolver\'s attempts x timeout',
        durationSec: opts.durationSec,
        afterLoad: async (mode) => {
          if (planDnsMode(mode, opts.vip).notrack) await removeRules(ownsNotrackPath(runId), t.natNetns);
        },
        analyze: async (mode, rule, results, before, after, durationMs) =>
          analyzeDnsMode({
            mode,
            rule,
            clients: results.map(toOutcome),
            counters: labCounters(before, after, REPORTED),
            durationMs,
            timeoutMs: opts.timeoutMs,
            attempts: opts.attempts,
            detectRatePer100k: opts.detectRatePer100k,
            notes: modeNotes(planDnsMode(mode, opts.vip), client, opts.vip),
            ...(resolvConf === undefined ? {} : { resolvConf }),
          }),
      });
      modes.push(...(both ? entries.map((m) => ({ ...m, load })) : entries));
    }

    return {
      ...resultBase({ runId, startedAt: session.startedAt, command: ctx.command, interrupted: session.interrupted, environment, modes, summary: summarizeDns(modes) }),
      signatureBands: { description: DNS_TOLERANCE_DESCRIPTION, slowThresholdMs: SLOW_THRESHOLD_MS },
      scenario: 'dns',
      config,
    };
  });
}

function toOutcome(r: DnsClientResultEvent): Parameters<typeof analyzeDnsMode>[0]['clients'][number] {
  return {
    lookups: r.lookups, succeeded: r.succeeded, failed: r.failed, failures: r.failures, histogram: r.histogram,
    queriesSent: r.queriesSent, retries: r.retries, partial: r.partial, ...(r.socketPath ? { socketPath: r.socketPath } : {}),
  };
}

export function summarizeDns(modes: readonly ModeResult[]): string {
  return modes
    .map((m) => `${m.mode}${m.load ? ` (${m.load === 'burst' ? 'burst client' : 'glibc'})` : ''}: ${m.verdict} (${m.attribution.conntrackRace} race drops, ${m.attribution.lostSyns} lost queries in ${m.attempts} lookups, clashres +${m.counters.conntrack['clashres'] ?? 0})`)
    .join('; ');
}
