import type { AgentConnection } from '../../runner/agentConnection.js';
import { setMasqueradeMode, verifyRules } from '../../host/iptables.js';
import { collectEnvironment } from '../../host/environment.js';
import { analyzeMode, burstReading } from './analyze.js';
import type { ClientOutcome } from '../shared/clientOutcome.js';
import { withRun } from '../shared/runScope.js';
import { labCounters, labSnapshot, natBackground, openNatLab, type ReportedCounters, SERVER_BACKLOG, SERVER_SYSCTLS, shareOf, startOnEveryClient, startRunAgent } from '../shared/natLab.js';
import { runModes } from '../shared/modeLoop.js';
import { synEvidenceStep } from './evidenceCapture.js';
import { requireTcpdump } from '../../host/capture.js';
import { resultBase } from '../shared/resultBase.js';
import { modeAnswers } from '../../analysis/answers.js';
import { readSynSchedule } from '../shared/synScheduleOf.js';
import { requireConntrackHeadroom } from '../shared/headroom.js';
import { PROGRESS_INTERVAL_MS, SETTLE_MS, WATCHDOG_SLACK_MS } from '../shared/timing.js';
import type { RunContext } from '../shared/definition.js';
import type { ModeResult, ResultFile, TcpSynConfig, TcpSynLoad } from '../../types.js';
import type { TcpBurstConfig, TcpClientConfig, TcpClientResultEvent, TcpServerConfig } from '../../agents/common/protocol.js';
import { BURST_DEFAULTS } from '../../agents/tcp/nativeBurst.js';
import { AgentProcess } from '../../backends/netns/agentProcess.js';
import type { TcpSynOptions } from './options.js';

/** Counters that are always reported, zero or not. */
const REPORTED: ReportedCounters = {
  // clashres kept when the kernel has it: its absence marks a kernel before 5.10 (race drops = min(insert_failed, drop)).
  conntrack: ['insert_failed', 'drop', 'clashres'],
  clients: ['TcpExtTCPSynRetrans', 'TcpActiveOpens', 'TcpAttemptFails'],
  // EmbryonicRsts: a connect whose last ACK trailed the client's RST (seen after race drops) is counted there.
  server: ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpPassiveOpens', 'TcpExtEmbryonicRsts', 'TcpExtTCPSYNChallenge'],
};

const CLIENT_SYSCTLS = {
  // With --close fin every port sits in TIME_WAIT for 60 s; let connect() reuse it (timestamps make that safe),
  // or a narrow port range runs dry within a second.
  'net.ipv4.tcp_tw_reuse': '1',
};


/**
 * `tcp-syn`: build the topology (netns or docker), then for each MASQUERADE mode run the connect storm from
 * every client at once and diff the kernel's counters around it. Everything created is removed when the run
 * ends, whatever happens.
 */
export function runTcpSyn(opts: TcpSynOptions, ctx: RunContext): Promise<ResultFile> {
  return withRun(ctx.command, ctx.hooks, async (scope) => {
    const { session } = scope;
    const { runId, phase } = session;
    // One entry per client and source port towards the one server port at most: a new connect on a port reuses its tuple.
    const ports = opts.portRange[1] - opts.portRange[0] + 1;
    if (opts.capture !== false) await requireTcpdump();
    await requireConntrackHeadroom(ctx.backend, Math.max(Math.min(opts.connections, opts.clients * ports), opts.burstPhase?.connections ?? 0), '--port-range, --clients or --connections');
    phase(`topology: ${opts.clients} clients and a server (run ${runId})`);
    const { topology: t, snat } = await openNatLab(scope, ctx.build, {
      runId, clients: opts.clients, portRange: opts.portRange, serverSysctls: SERVER_SYSCTLS, clientSysctls: CLIENT_SYSCTLS,
    });
    phase(`${t.backend}: clients on ${t.clientSubnet} (bridge ${t.clientBridge}), server ${t.server.address} on ${t.serverSubnet}`);
    const config: TcpSynConfig = { ...opts, backend: t.backend, clientSubnet: t.clientSubnet, serverSubnet: t.serverSubnet };
    const environment = await collectEnvironment(t.backend, t.docker, t.natNetns);
    const synSchedule = await readSynSchedule(t.clients, (c, cmd, args) => t.nsExec(c, cmd, args));

    const protocol = opts.protocol ?? 'tcp';
    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: opts.close, workers: opts.serverWorkers, backlog: SERVER_BACKLOG, protocol };
    await startRunAgent(scope, t, t.server, { label: 'server agent', agent: 'tcp/server', config: serverCfg, priority: 'high' });

    const clientCfg = (i: number): TcpClientConfig => ({
      host: t.server.address,
      port: opts.serverPort,
      workers: opts.workers,
      concurrency: opts.concurrency,
      connections: shareOf(opts.connections, opts.clients, i),
      durationMs: opts.durationSec * 1000,
      connectTimeoutMs: opts.connectTimeoutMs,
      close: opts.close,
      progressIntervalMs: PROGRESS_INTERVAL_MS,
      protocol,
      keepalive: opts.keepalive ?? false,
    });
    // The response timeout equals the connect timeout and starts once the request is written: HTTP may take two.
    const timeouts = protocol === 'http' ? 2 : 1;
    const loadBoundMs = opts.durationSec * 1000 + timeouts * opts.connectTimeoutMs;
    const phases: TcpSynLoad[] = opts.load === 'both' ? ['burst', 'steady'] : [opts.load === 'burst' ? 'burst' : 'steady'];
    // The default asks "is it vulnerable" first (seconds), then "how often does a storm hit it", on the same lab.
    const modes: ModeResult[] = [];
    for (const phaseName of phases) {
      if (session.interrupted) break;
      const burst = phaseName === 'burst';
      // --load both: the burst phase has its own size (the flags size the steady phase).
      const size = burst && opts.burstPhase ? opts.burstPhase : { clients: opts.clients, connections: opts.connections, detectRatePer100k: opts.detectRatePer100k };
      if (phases.length > 1) phase(`${phaseName} phase: ${burst ? 'is this rule vulnerable (provoked, same-port connects at one instant)' : 'how often a steady connect storm hits it'}`);
      const entries = await runModes(session, ctx.hooks, opts.modes, {
        name: (mode) => (phases.length > 1 ? `${mode} (${phaseName})` : mode),
        prepare: async (mode) => {
          return setMasqueradeMode(snat, mode);
        },
        clearEntries: () => t.clearNatEntries(),
        snapshot: () => labSnapshot(t),
        ...(opts.capture === false ? {} : { capture: synEvidenceStep(scope, t, opts.serverPort, captureBoundMs(loadBoundMs)) }),
        background: natBackground(t),
        verify: (mode) => verifyRules(snat, mode),
        startLoad: async (): Promise<AgentConnection[]> => {
          if (!burst) return startOnEveryClient(t, (_, i) => ({ label: `client agent ${i}`, agent: 'tcp/client', config: clientCfg(i), priority: 'normal' }));
          // One process for every racing client: its threads enter the clients' namespaces, so one barrier in its
          // memory releases every client's connect at the same instant. It creates no socket where it runs.
          const config: TcpBurstConfig = {
            host: t.server.address, port: opts.serverPort, netnsPaths: await Promise.all(t.clients.slice(0, size.clients).map((c) => t.netnsPath(c))),
            connections: size.connections, durationMs: opts.durationSec * 1000, connectTimeoutMs: opts.connectTimeoutMs,
            burstPorts: opts.burstPorts ?? [10_000, 32_767], inFlightRounds: BURST_DEFAULTS.inFlightRounds, progressIntervalMs: PROGRESS_INTERVAL_MS,
          };
          return [new AgentProcess('burst agent', null, 'tcp/burst', config)];
        },
        resultEvent: 'result',
        target: size.connections,
        loadBoundMs,
        durationSec: opts.durationSec,
        boundText: timeouts === 2 ? '--duration + 2 x --connect-timeout' : '--duration + --connect-timeout',
        analyze: async (mode, rule, results, before, after, durationMs, evidence) => {
          const m = analyzeMode({
            mode,
            rule,
            clients: results.map(toOutcome),
            counters: labCounters(before, after, REPORTED),
            durationMs,
            connectTimeoutMs: opts.connectTimeoutMs,
            synSchedule,
            detectRatePer100k: size.detectRatePer100k,
            keepalive: opts.keepalive ?? false,
            ...(evidence ? { evidence } : {}),
          });
          return burst ? burstReading(m, size.detectRatePer100k) : { ...m, load: 'steady' };
        },
      });
      modes.push(...entries);
    }
    const base = resultBase({ runId, startedAt: session.startedAt, command: ctx.command, interrupted: session.interrupted, environment, modes, summary: summarize(modes) });
    const result: ResultFile = { ...base, scenario: 'tcp-syn', config };
    return { ...result, answers: modeAnswers(result) };
  });
}

/** A mode's capture runs from before the load's release to after the settle: the load's bound, the watchdog's slack and a minute more. */
function captureBoundMs(loadBoundMs: number): number {
  return loadBoundMs + WATCHDOG_SLACK_MS + SETTLE_MS + 60_000;
}

function toOutcome(r: TcpClientResultEvent): ClientOutcome {
  return {
    attempts: r.attempts, succeeded: r.succeeded, failed: r.failed, failures: r.failures, histogram: r.histogram,
    ...(r.http ? { http: r.http } : {}), ...(r.connectPath ? { connectPath: r.connectPath } : {}),
  };
}

export function summarize(modes: readonly ModeResult[]): string {
  return modes
    .map((m) => `${m.mode}${m.load ? ` (${m.load})` : ''}: ${m.verdict} (${m.attribution.conntrackRace} race drops, ${m.attribution.lostSyns} lost SYNs in ${m.attempts} attempts)`)
    .join('; ');
}
