/**
 * Bench section `dns`: the raw DNS client's query rate against Debian's `dnsperf`, measured in the same run.
 * The topology of `repro dns` on the netns backend (client namespaces behind MASQUERADE, a DNS server agent on
 * the backends of a kube-proxy-shaped service VIP); for each MASQUERADE mode, the same lookups from the same
 * client namespaces three times: (a) dnsperf, one process per client namespace, (b) a C loop making lookups
 * as glibc does (src/bench/glibcStyleLookups.c: a fresh socket per lookup, the cost of the race-making pattern at
 * its lowest), (c) the harness's raw client agents (on the native engine where it was built; REPRO_DNS_SOCKETS=udp_wrap
 * or =dgram measures the JS paths instead, the row's socketPath says which ran); always the same number of queries
 * in flight in total (a raw lookup keeps its A and its AAAA in flight at once).
 * Reported per load: queries/s (A and AAAA each count), host CPU and the client side's own CPU per 1 000 queries,
 * the server's CPU and its UdpRcvbufErrors/UdpInErrors (its headroom), peak RSS of the agents.
 *
 * REPRO_BENCH_DNS_LOOKUPS (lookups per load, default 100 000) and REPRO_BENCH_DNS_MODES (default none,random-fully)
 * shrink it for tests.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { requireCommand, requireNetnsPrerequisites } from '../host/preflight.js';
import { errorMessage, UserError } from '../errors.js';
import { run } from '../host/exec.js';
import { hostBusyCpuSeconds, perThousand, ratio } from './benchHost.js';
import { dnsperfQueryFile, parseBashTimes, parseDnsperfOutput, type DnsperfFigures } from './dnsperfOutput.js';
import { buildNetnsTopology } from '../backends/netns/topology.js';
import { netCountersDelta } from '../host/netstat.js';
import { mergeEncoded } from '../histogram.js';
import { applyBatch, serviceBatch, setMasqueradeMode } from '../host/iptables.js';
import { BURST_PORTS, CLIENT_PORT_RANGE, DNS_DEFAULTS } from '../scenarios/dns/options.js';
import { dnsServiceAddresses } from '../scenarios/dns/serviceAddresses.js';
import { withScope } from '../scenarios/shared/runScope.js';
import { openNatLab, shareOf, startOnEveryClient, startRunAgent } from '../scenarios/shared/natLab.js';
import { AGENT_READY_TIMEOUT_MS, SETTLE_MS, WATCHDOG_SLACK_MS } from '../scenarios/shared/timing.js';
import { GLIBC_ATTEMPTS, GLIBC_TIMEOUT_MS } from '../agents/dns/glibcResolver.js';
import { parseModes } from '../scenarios/tcpSyn/options.js';
import type { AgentConnection } from '../runner/agentConnection.js';
import type { DnsClientConfig, DnsServerConfig, DnsServerStatsEvent, RawSocketPath } from '../agents/dns/protocol.js';
import type { AgentResources } from '../agents/common/resources.js';

const LOOP_SOURCE = fileURLToPath(new URL('../../src/bench/glibcStyleLookups.c', import.meta.url));
const SERVER_RECV_BUFFER = 8 * 1024 * 1024;
const SERVER_KEYS = ['UdpInDatagrams', 'UdpOutDatagrams', 'UdpRcvbufErrors', 'UdpInErrors'];
/** Every load asks names of its own (h<offset+n>.zone). */
const NAMES_PER_LOAD = 10_000_000;
const LOAD_LIMIT_S = 60;

export interface DnsLoadFigures {
  /** Queries sent and answered (a lookup's A and AAAA each count). */
  queriesSent: number;
  queriesAnswered: number;
  /** Lookups (A + AAAA) started and how they ended; dnsperf: answered queries / 2. */
  lookups: number;
  failed: number;
  failures: Record<string, number>;
  elapsedMs: number;
  queriesPerSecond: number;
  hostCpuSecondsPer1000: number;
  /** The load generators' own CPU (user + system) from the release of the load to its end, seconds per 1 000
   * answered queries (dnsperf: its whole run; its start-up is a file read). */
  clientCpuSecondsPer1000: number;
  /** Ours: what the client agents' start-up cost (Node, worker threads, modules) before the load, CPU seconds. */
  clientStartupCpuSeconds?: number;
  serverCpuSecondsPer1000: number;
  /** Server namespace counters during the load: nonzero UdpRcvbufErrors/UdpInErrors = the server was the bottleneck. */
  server: Record<string, number>;
  /** Largest peak RSS among the client processes (agents only: dnsperf's is not measured), KiB. */
  clientPeakRssKb: number | null;
  serverPeakRssKb: number;
  /** Lookup latency (ours only), ms. */
  lookupP50Ms?: number;
  lookupP99Ms?: number;
  socketPath?: RawSocketPath;
  loadAverage1m: number;
}

/** What a load returns; measure() adds the server's side and the rates. */
type RawLoad = Pick<DnsLoadFigures, 'queriesSent' | 'queriesAnswered' | 'lookups' | 'failed' | 'failures' | 'elapsedMs' | 'clientPeakRssKb'> & {
  hostCpuSeconds: number;
  clientCpuSeconds: number;
  extra: Pick<DnsLoadFigures, 'lookupP50Ms' | 'lookupP99Ms' | 'socketPath' | 'clientStartupCpuSeconds'>;
};

/** The next dns-stats event the server sends (waitFor would return the first one ever seen). */
function serverStats(server: AgentConnection): Promise<DnsServerStatsEvent> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => ((done = true), reject(new Error('dns server agent: no dns-stats within 5 s'))), 5000);
    server.onEvent((e) => {
      if (done || e.type !== 'dns-stats') return;
      done = true;
      clearTimeout(timer);
      resolve(e);
    });
    server.send('stats');
  });
}

const NO_RESOURCES: AgentResources = { cpuMs: 0, peakRssKb: 0 };

export async function benchDnsQueryRate(): Promise<{ lines: string[]; json: object }> {
  await requireNetnsPrerequisites();
  await requireCommand('dnsperf', ['-h'], 'install dnsperf (Debian: apt-get install dnsperf)');
  const lookups = Number(process.env['REPRO_BENCH_DNS_LOOKUPS'] ?? 100_000);
  if (!Number.isInteger(lookups) || lookups < 1) throw new UserError(`REPRO_BENCH_DNS_LOOKUPS must be a whole number above 0, got "${process.env['REPRO_BENCH_DNS_LOOKUPS']}"`);
  const modes = parseModes(process.env['REPRO_BENCH_DNS_MODES'] ?? 'none,random-fully');
  const { clients, workers, concurrency, zone, port, backends: backendCount } = DNS_DEFAULTS;
  const serverWorkers = DNS_DEFAULTS['server-workers'];
  /** Queries in flight per client namespace: each raw lookup has its A and its AAAA out at once. */
  const inFlight = 2 * workers * concurrency;

  const work = await mkdtemp(path.join(os.tmpdir(), 'repro-bench-dns-'));
  const binary = path.join(work, 'dns-lookup-loop');
  await run('gcc', ['-O2', '-o', binary, LOOP_SOURCE]).catch(async (err: unknown) => {
    await rm(work, { recursive: true, force: true });
    throw new UserError(`gcc could not build the C lookup loop (apt-get install gcc): ${errorMessage(err)}`);
  });
  const rows: {
    mode: string; rule: string; ours: DnsLoadFigures; dnsperf: DnsLoadFigures; cLoop: DnsLoadFigures;
    ratio: number; cLoopRatio: number; oursToCLoop: number; dnsperfRaw: DnsperfFigures[];
  }[] = [];
  let vip = '';
  try {
    await withScope('npm run bench dns', {}, async (scope) => {
      const { session } = scope;
      const { runId } = session;
      const { topology: t, snat } = await openNatLab(scope, buildNetnsTopology, { runId, clients, portRange: CLIENT_PORT_RANGE, serverSysctls: {}, clientSysctls: {} });
      const service = dnsServiceAddresses(t);
      const backends = await service.addBackends(backendCount);
      await service.routeServerToClients();
      vip = service.vipAddress();
      await applyBatch(serviceBatch({ runId, clientSubnet: t.clientSubnet, vip, port, backends }), t.natNetns);
      const serverCfg: DnsServerConfig = { zone, addresses: backends, port, workers: serverWorkers, recvBufferBytes: SERVER_RECV_BUFFER };
      const srv = await startRunAgent(scope, t, t.server, { label: 'dns server agent', agent: 'dns/server', config: serverCfg, priority: 'high' });

      /** Around one load: fresh conntrack, the server's counters and CPU, the host's CPU inside the load. */
      const measure = async (load: () => Promise<RawLoad>): Promise<DnsLoadFigures> => {
        await t.clearNatEntries();
        const loadAverage1m = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
        const [counters0, stats0] = await Promise.all([t.readCounters(t.server), serverStats(srv)]);
        const r = await load();
        await new Promise((res) => setTimeout(res, SETTLE_MS));
        const [counters1, stats1] = await Promise.all([t.readCounters(t.server), serverStats(srv)]);
        const res0 = stats0.resources ?? NO_RESOURCES;
        const res1 = stats1.resources ?? NO_RESOURCES;
        return {
          queriesSent: r.queriesSent,
          queriesAnswered: r.queriesAnswered,
          lookups: r.lookups,
          failed: r.failed,
          failures: r.failures,
          elapsedMs: r.elapsedMs,
          queriesPerSecond: r.elapsedMs > 0 ? Math.round((r.queriesAnswered / r.elapsedMs) * 1000) : 0,
          hostCpuSecondsPer1000: perThousand(r.hostCpuSeconds, r.queriesAnswered),
          clientCpuSecondsPer1000: perThousand(r.clientCpuSeconds, r.queriesAnswered),
          serverCpuSecondsPer1000: perThousand((res1.cpuMs - res0.cpuMs) / 1000, r.queriesAnswered),
          server: netCountersDelta(counters0, counters1, SERVER_KEYS),
          clientPeakRssKb: r.clientPeakRssKb,
          serverPeakRssKb: res1.peakRssKb,
          ...r.extra,
          loadAverage1m,
        };
      };

      const oursLoad = (index: number) => async (): Promise<RawLoad> => {
        const agents = await startOnEveryClient(t, (_, i) => {
          const cfg: DnsClientConfig = {
            kind: 'raw', server: vip, port, zone, workers, concurrency, lookups: shareOf(lookups, clients, i), durationMs: LOAD_LIMIT_S * 1000,
            timeoutMs: GLIBC_TIMEOUT_MS, attempts: GLIBC_ATTEMPTS, nameOffset: index * NAMES_PER_LOAD + i * lookups,
            burstPorts: BURST_PORTS, progressIntervalMs: 1000,
          };
          return { label: `dns client agent ${i}`, agent: 'dns/client', config: cfg, priority: 'normal' };
        });
        session.load = agents;
        try {
          await Promise.all(agents.map((a) => a.waitFor('ready', AGENT_READY_TIMEOUT_MS)));
          const c0 = await hostBusyCpuSeconds();
          for (const a of agents) a.send('start');
          const limitMs = LOAD_LIMIT_S * 1000 + GLIBC_TIMEOUT_MS * GLIBC_ATTEMPTS + WATCHDOG_SLACK_MS;
          const results = await Promise.all(agents.map((a) => a.waitFor('dns-result', limitMs)));
          const c1 = await hostBusyCpuSeconds();
          const failures: Record<string, number> = {};
          for (const r of results) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
          const h = mergeEncoded(results.map((r) => r.histogram));
          const res = results.map((r) => r.resources ?? NO_RESOURCES);
          const startup = results.reduce((s, r) => s + (r.resourcesAtStart ?? NO_RESOURCES).cpuMs, 0) / 1000;
          const extra = {
            lookupP50Ms: h.getValueAtPercentile(50) / 1000, lookupP99Ms: h.getValueAtPercentile(99) / 1000,
            socketPath: results[0]?.socketPath ?? 'dgram', clientStartupCpuSeconds: Math.round(startup * 1000) / 1000,
          };
          h.destroy();
          return {
            queriesSent: results.reduce((s, r) => s + r.queriesSent, 0),
            queriesAnswered: 2 * results.reduce((s, r) => s + r.succeeded, 0),
            lookups: results.reduce((s, r) => s + r.lookups, 0),
            failed: results.reduce((s, r) => s + r.failed, 0),
            failures,
            elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
            hostCpuSeconds: c1 - c0,
            clientCpuSeconds: res.reduce((s, r) => s + r.cpuMs, 0) / 1000 - startup,
            clientPeakRssKb: Math.max(...res.map((r) => r.peakRssKb)),
            extra,
          };
        } finally {
          await Promise.all(agents.map((a) => a.stop()));
          session.load = [];
        }
      };

      const dnsperfRaw: DnsperfFigures[] = [];
      const dnsperfLoad = (index: number) => async (): Promise<RawLoad> => {
        const files = await Promise.all(
          t.clients.map(async (_, i) => {
            const file = path.join(work, `queries-${index}-${i}.txt`);
            const fh = await open(file, 'w');
            try {
              for (const text of dnsperfQueryFile(zone, index * NAMES_PER_LOAD + i * lookups, shareOf(lookups, clients, i))) await fh.write(text);
            } finally {
              await fh.close();
            }
            return file;
          }),
        );
        dnsperfRaw.length = 0;
        const c0 = await hostBusyCpuSeconds();
        const outs = await Promise.all(t.clients.map((c, i) => runTimed(c.name, 'dnsperf', [
          '-s', vip, '-p', String(port), '-d', files[i] ?? '', '-n', '1', '-l', String(LOAD_LIMIT_S),
          '-T', String(workers), '-c', String(workers * concurrency), '-q', String(inFlight), '-t', String(GLIBC_TIMEOUT_MS / 1000),
        ])));
        const c1 = await hostBusyCpuSeconds();
        const figures = outs.map((o) => parseDnsperfOutput(o));
        dnsperfRaw.push(...figures);
        const failures: Record<string, number> = {};
        for (const f of figures) {
          for (const [k, v] of Object.entries(f.responseCodes)) if (k !== 'NOERROR') failures[k] = (failures[k] ?? 0) + v;
          if (f.lost > 0) failures['LOST'] = (failures['LOST'] ?? 0) + f.lost;
        }
        const answered = figures.reduce((s, f) => s + (f.responseCodes['NOERROR'] ?? 0), 0);
        const sent = figures.reduce((s, f) => s + f.sent, 0);
        return {
          queriesSent: sent,
          queriesAnswered: answered,
          lookups: sent / 2,
          failed: Object.values(failures).reduce((s, v) => s + v, 0),
          failures,
          elapsedMs: Math.round(Math.max(...figures.map((f) => f.runTimeSeconds)) * 1000),
          hostCpuSeconds: c1 - c0,
          clientCpuSeconds: outs.reduce((s, o) => s + parseBashTimes(o), 0),
          clientPeakRssKb: null,
          extra: {},
        };
      };

      const cLoopLoad = (index: number) => async (): Promise<RawLoad> => {
        const c0 = await hostBusyCpuSeconds();
        const outs = await Promise.all(t.clients.map((c, i) => runTimed(c.name, binary, [
          vip, String(port), zone, String(index * NAMES_PER_LOAD + i * lookups), String(shareOf(lookups, clients, i)), String(workers * concurrency), String(GLIBC_TIMEOUT_MS),
        ])));
        const c1 = await hostBusyCpuSeconds();
        const rs = outs.map((o) => JSON.parse(o.split('\n')[0] ?? '') as { lookups: number; answered: number; failed: number; queries: number; elapsedMs: number });
        const failed = rs.reduce((s, r) => s + r.failed, 0);
        return {
          queriesSent: rs.reduce((s, r) => s + r.queries, 0),
          queriesAnswered: 2 * rs.reduce((s, r) => s + r.answered, 0),
          lookups: rs.reduce((s, r) => s + r.lookups, 0),
          failed,
          failures: failed > 0 ? { ETIMEDOUT: failed } : {},
          elapsedMs: Math.max(...rs.map((r) => r.elapsedMs)),
          hostCpuSeconds: c1 - c0,
          clientCpuSeconds: outs.reduce((s, o) => s + parseBashTimes(o), 0),
          clientPeakRssKb: null,
          extra: {},
        };
      };

      for (const [m, mode] of modes.entries()) {
        const rule = await setMasqueradeMode(snat, mode);
        process.stderr.write(`· ${mode}: dnsperf\n`);
        const perf = await measure(dnsperfLoad(3 * m));
        const raw = [...dnsperfRaw];
        process.stderr.write(`· ${mode}: C loop, a fresh socket per lookup\n`);
        const cLoop = await measure(cLoopLoad(3 * m + 2));
        process.stderr.write(`· ${mode}: repro's raw client agents\n`);
        const ours = await measure(oursLoad(3 * m + 1));
        rows.push({
          mode, rule, ours, dnsperf: perf, cLoop, ratio: ratio(ours.queriesPerSecond, perf.queriesPerSecond),
          cLoopRatio: ratio(cLoop.queriesPerSecond, perf.queriesPerSecond), oursToCLoop: ratio(ours.queriesPerSecond, cLoop.queriesPerSecond), dnsperfRaw: raw,
        });
      }
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }

  const json = {
    benchmark: 'dns-query-rate',
    config: {
      clients, workers, concurrency, lookupsPerLoad: lookups, queriesInFlightPerClient: inFlight, serverWorkers, backends: backendCount,
      target: `service VIP ${vip}:${port} (DNAT to ${backendCount} backends)`,
      dnsperf: `dnsperf -T ${workers} -c ${workers * concurrency} -q ${inFlight} -n 1 -t ${GLIBC_TIMEOUT_MS / 1000} per client namespace`,
    },
    baseline: "Debian's dnsperf, same client namespaces, same names (A and AAAA each), same queries in flight, same server agent, same run",
    cLoop: 'src/bench/glibcStyleLookups.c (gcc -O2): glibc-style lookups in C, a fresh connected socket per lookup, A and AAAA by one sendmmsg; what the race-making pattern costs at best',
    modes: rows,
  };
  const lines = rows.map(
    (r) =>
      `dns ${r.mode.padEnd(13)} ours ${r.ours.queriesPerSecond} q/s (host ${r.ours.hostCpuSecondsPer1000}, own ${r.ours.clientCpuSecondsPer1000} CPU-s/1000, ${r.ours.socketPath})  ` +
      `dnsperf ${r.dnsperf.queriesPerSecond} q/s (host ${r.dnsperf.hostCpuSecondsPer1000}, own ${r.dnsperf.clientCpuSecondsPer1000} CPU-s/1000)  ratio ${r.ratio}  ` +
      `C loop ${r.cLoop.queriesPerSecond} q/s (ours/C ${r.oursToCLoop})  ` +
      `server UdpRcvbufErrors ours ${r.ours.server['UdpRcvbufErrors'] ?? 0}, dnsperf ${r.dnsperf.server['UdpRcvbufErrors'] ?? 0}, C ${r.cLoop.server['UdpRcvbufErrors'] ?? 0} · load ${r.ours.loadAverage1m}`,
  );
  return { lines, json };
}

/** A program in a client namespace, followed by bash's `times` (its CPU); resolves with everything it printed. */
function runTimed(netns: string, program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', netns, 'bash', '-c', '"$0" "$@"; rc=$?; times; exit $rc', program, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(program)} in ${netns} exited ${code}: ${(err || out).trim().split('\n').slice(-3).join(' | ')}`))));
  });
}
