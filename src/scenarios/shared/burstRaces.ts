/**
 * Race counts of a load on the tcp lab: the kernel's counters read around it (measureRaces), the burst agent run
 * in the clients' namespaces (runBurstAgent), and a load's figures (loadRaces). Shared by `npm run bench` and
 * `repro trace --self-test`, which ships in the package (the bench does not).
 */
import { conntrackDelta } from '../../host/conntrackStat.js';
import { netCountersDelta } from '../../host/netstat.js';
import type { AgentConnection } from '../../runner/agentConnection.js';
import { AgentProcess } from '../../backends/netns/agentProcess.js';
import { countBetween, decodeHistogram } from '../../histogram.js';
import type { BurstFigures, TcpBurstConfig, TcpClientResultEvent } from '../../agents/common/protocol.js';
import type { TestHost, Topology } from '../../backends/topology.js';
import type { MasqueradeMode } from '../../types.js';
/** A stall: the first SYN retransmit comes after 1 s (tcp-syn's signature bands start lower, this is the count). */
const STALL_US = 900_000;
const NEVER_US = 600_000_000;

/** The kernel's count of what a load did at the NAT and on the clients. */
export interface RaceCounters {
  /** insert_failed at the NAT: SYNs dropped because their translated tuple was taken at confirm, i.e. the race. */
  raceDrops: number;
  conntrackDrop: number;
  /** TcpExtTCPSynRetrans summed over the load's client namespaces. */
  clientSynRetrans: number;
  serverListenOverflows: number;
  serverListenDrops: number;
}

/** A burst load's settings; where to connect is the lab's server. */
export type BurstLoadConfig = Omit<TcpBurstConfig, 'host' | 'port' | 'netnsPaths'>;

/**
 * Run `load` between two readings of the kernel's counters: the NAT's conntrack stats (where the lab's NAT runs), the given clients' and the server's netstat. Entries the clients left from an earlier load are deleted
 * first, so every load starts with the NAT's port space free.
 */
export async function measureRaces<T>(t: Topology, clients: readonly TestHost[], load: () => Promise<T>): Promise<{ result: T; counters: RaceCounters }> {
  await t.clearNatEntries();
  const read = () => Promise.all([t.readNatStats(), t.readCounters(t.server), ...clients.map((c) => t.readCounters(c))]);
  const [ct0, s0, ...c0] = await read();
  const result = await load();
  const [ct1, s1, ...c1] = await read();
  const ct = conntrackDelta(ct0, ct1);
  const srv = netCountersDelta(s0, s1, ['TcpExtListenOverflows', 'TcpExtListenDrops']);
  const synRetrans = c0.reduce((sum, before, i) => sum + (netCountersDelta(before, c1[i] ?? before, ['TcpExtTCPSynRetrans'])['TcpExtTCPSynRetrans'] ?? 0), 0);
  return {
    result,
    counters: {
      raceDrops: ct['insert_failed'] ?? 0,
      conntrackDrop: ct['drop'] ?? 0,
      clientSynRetrans: synRetrans,
      serverListenOverflows: srv['TcpExtListenOverflows'] ?? 0,
      serverListenDrops: srv['TcpExtListenDrops'] ?? 0,
    },
  };
}

/** One tcp/burst agent in the runner's namespace driving `clients`; `whileRunning` gets it once released. */
export async function runBurstAgent(
  t: Topology, clients: readonly TestHost[], serverPort: number, cfg: BurstLoadConfig, whileRunning?: (agent: AgentConnection) => void,
): Promise<TcpClientResultEvent> {
  const netnsPaths = await Promise.all(clients.map((c) => t.netnsPath(c)));
  const config: TcpBurstConfig = { ...cfg, host: t.server.address, port: serverPort, netnsPaths };
  const agent = new AgentProcess('burst agent', null, 'tcp/burst', config);
  try {
    await agent.waitFor('ready', 30_000);
    agent.send('start');
    whileRunning?.(agent);
    return await agent.waitFor('result', cfg.durationMs + cfg.connectTimeoutMs + 30_000);
  } finally {
    await agent.stop();
  }
}

export interface LoadRaces extends RaceCounters {
  load: 'steady' | 'burst';
  clients: number;
  attempts: number;
  failed: number;
  /** Attempts that completed after >= 900 ms (a retransmitted SYN) or failed. */
  stalls: number;
  elapsedMs: number;
  connectsPerSecond: number;
  raceDropsPerSecond: number;
  raceDropsPer100k: number;
  burst?: Pick<BurstFigures, 'rounds' | 'skippedRounds'> & { cpus: number[] };
}

export interface BurstModeRow {
  mode: MasqueradeMode;
  steady: LoadRaces;
  burst: LoadRaces;
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

/** The figures of one load: its clients' results and the counters around it. */
export function loadRaces(load: LoadRaces['load'], results: readonly TcpClientResultEvent[], counters: RaceCounters): LoadRaces {
  const attempts = results.reduce((s, r) => s + r.attempts, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  const elapsedMs = Math.max(1, ...results.map((r) => r.elapsedMs));
  const slow = results.reduce((s, r) => {
    const h = decodeHistogram(r.histogram);
    const n = countBetween(h, STALL_US, NEVER_US);
    h.destroy();
    return s + n;
  }, 0);
  const burst = results.find((r) => r.burst)?.burst;
  return {
    load,
    clients: burst ? burst.clients.length : results.length,
    attempts,
    failed,
    stalls: slow + failed,
    elapsedMs,
    connectsPerSecond: Math.round((attempts / elapsedMs) * 1000),
    ...counters,
    raceDropsPerSecond: round1((counters.raceDrops / elapsedMs) * 1000),
    raceDropsPer100k: attempts > 0 ? round1((counters.raceDrops / attempts) * 100_000) : 0,
    ...(burst ? { burst: { rounds: burst.rounds, skippedRounds: burst.skippedRounds, cpus: burst.clients.map((c) => c.cpu) } } : {}),
  };
}
