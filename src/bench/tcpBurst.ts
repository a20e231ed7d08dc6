/**
 * Bench section `burst`: how fast each load answers "does this rule drop SYNs in the SNAT race", in one run.
 * One netns lab (client namespaces behind the host's MASQUERADE, one server agent); for each MASQUERADE mode,
 * (a) the steady load (tcp/client agents in every client namespace, tcp-syn's defaults) and (b) the burst load
 * (one tcp/burst agent driving two client namespaces with synchronized same-port connects). Reported per load:
 * attempts, connects/s, race drops (the NAT's insert_failed delta) per second of load and per 100 000 attempts,
 * and the clients' SYN retransmits and stalls that should match them. src/bench/main.ts writes the file.
 */
import { requireNetnsPrerequisites } from '../host/preflight.js';
import { TCP_SYN_DEFAULTS, validateTcpSynArgs } from '../scenarios/tcpSyn/options.js';
import { openTcpLab } from '../scenarios/shared/tcpLab.js';
import { setMasqueradeMode } from '../host/iptables.js';
import { BURST_DEFAULTS } from '../agents/tcp/nativeBurst.js';
import type { MasqueradeMode } from '../types.js';

import { loadRaces, measureRaces, runBurstAgent, type BurstLoadConfig, type BurstModeRow, type LoadRaces } from '../scenarios/shared/burstRaces.js';

export async function benchTcpBurst(): Promise<{ lines: string[]; json: object }> {
  await requireNetnsPrerequisites();
  const steadyConnections = Number(process.env['REPRO_BENCH_CONNECTIONS'] ?? 120_000);
  const burstConnections = Number(process.env['REPRO_BENCH_BURST_CONNECTIONS'] ?? BURST_DEFAULTS.connections);
  const opts = validateTcpSynArgs({ ...TCP_SYN_DEFAULTS, connections: steadyConnections, duration: 60 });
  const modes: MasqueradeMode[] = ['none', 'random-fully'];
  const lab = await openTcpLab({
    command: 'npm run bench', clients: Math.max(opts.clients, BURST_DEFAULTS.clients), portRange: opts.portRange,
    serverPort: opts.serverPort, serverWorkers: opts.serverWorkers, mode: modes[0] ?? 'none',
  });
  const burstCfg: BurstLoadConfig = {
    connections: burstConnections, durationMs: BURST_DEFAULTS.durationMs, connectTimeoutMs: BURST_DEFAULTS.connectTimeoutMs,
    burstPorts: BURST_DEFAULTS.burstPorts, inFlightRounds: BURST_DEFAULTS.inFlightRounds, progressIntervalMs: 1000,
  };
  const rows: BurstModeRow[] = [];
  try {
    const t = lab.topology;
    const burstClients = t.clients.slice(0, BURST_DEFAULTS.clients);
    const perClient = Math.floor(steadyConnections / t.clients.length);
    for (const mode of modes) {
      await setMasqueradeMode(lab.snat, mode);
      process.stderr.write(`· ${mode}: steady load (${t.clients.length} client agents)\n`);
      const steady = await measureRaces(t, t.clients, () =>
        lab.runClients({
          workers: opts.workers, concurrency: opts.concurrency, connections: perClient, durationMs: 60_000,
          connectTimeoutMs: opts.connectTimeoutMs, close: 'rst', progressIntervalMs: 1000,
        }),
      );
      process.stderr.write(`· ${mode}: burst load (${burstClients.length} clients, one tcp/burst agent)\n`);
      const burst = await measureRaces(t, burstClients, async () => [await runBurstAgent(t, burstClients, opts.serverPort, burstCfg)]);
      rows.push({ mode, steady: loadRaces('steady', steady.result, steady.counters), burst: loadRaces('burst', burst.result, burst.counters) });
    }
  } finally {
    await lab.close();
  }
  const json = {
    benchmark: 'tcp-race-rate',
    config: {
      steady: { clients: opts.clients, workers: opts.workers, concurrency: opts.concurrency, connections: steadyConnections },
      burst: { clients: BURST_DEFAULTS.clients, ...burstCfg },
    },
    raceDrops: "insert_failed delta of the lab's NAT (the host's conntrack stats), per load",
    modes: rows,
  };
  const fig = (f: LoadRaces): string =>
    `${f.attempts} attempts at ${f.connectsPerSecond}/s, ${f.raceDrops} race drops (${f.raceDropsPerSecond}/s, ${f.raceDropsPer100k} per 100 000; ` +
    `SYN retransmits ${f.clientSynRetrans}, stalls ${f.stalls})`;
  const lines = rows.flatMap((r) => [`burst ${r.mode}: steady ${fig(r.steady)}`, `burst ${r.mode}: burst  ${fig(r.burst)}`]);
  return { lines, json };
}
