import { run, runInNetns } from '../../host/exec.js';
import { UserError, PrerequisiteError } from '../../errors.js';
import { AgentProcess } from '../../runner/agentConnection.js';
import { RunSession } from '../../runner/runSession.js';
import { pickFreeSubnets, prefixesInUse } from '../../host/subnets.js';
import {
  createVxlanTopology, planVxlanTopology, setOffload, teardownVxlanTopology, type VxlanTopology,
} from './topology.js';
import { describePostrouting, kubeProxyNatBatch, MARKED_VXLAN_COMMENT, SNAT_COMMENT, type KubeService } from './kubeProxyRules.js';
import { conntrackDelta, parseConntrackStat, CONNTRACK_STAT_PATH, type ConntrackStat } from '../../host/conntrackStat.js';
import { netCountersDelta, readNetnsCounters, type NetCounters } from '../../host/netstat.js';
import { readConntrackFlows } from '../../host/conntrackFlows.js';
import { describeProbe, runChecksumProbe } from './checksumProbe.js';
import { packetsOf, readRuleCounters } from '../../host/iptablesCounters.js';
import { summarizeOuterFlows } from './doubleSnat.js';
import { analyzeVxlanMode, summarizeVxlan } from './analyze.js';
import { resultBase } from '../shared/resultBase.js';
import { collectEnvironment } from '../../host/environment.js';
import type { ModeResult, OtherScenarioConfig, ResultFile } from '../../types.js';
import type { TcpClientConfig, TcpClientResultEvent, TcpServerConfig } from '../../agents/common/protocol.js';
import type { VxlanMode, VxlanOptions } from './options.js';
import { relayClientProgress, type ScenarioHooks } from '../../runner/hooks.js';

const SERVER_NICE = -10;
const NODE_A_KEYS = ['TcpExtTCPSynRetrans', 'TcpActiveOpens', 'TcpAttemptFails', 'UdpInCsumErrors', 'TcpInCsumErrors'];
const POD_B_KEYS = ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpPassiveOpens', 'TcpInCsumErrors'];
const NODE_B_KEYS = ['UdpInDatagrams', 'UdpInErrors', 'UdpInCsumErrors', 'TcpInCsumErrors', 'IpInDiscards'];
const CONNTRACK_KEYS = ['insert_failed', 'drop'];

interface Snapshot {
  conntrack: ConntrackStat;
  nodeA: NetCounters;
  nodeB: NetCounters;
  podB: NetCounters;
}

async function snapshot(t: VxlanTopology): Promise<Snapshot> {
  const [stat, nodeA, nodeB, podB] = await Promise.all([
    runInNetns(t.nodeA.netns, 'cat', [CONNTRACK_STAT_PATH]),
    readNetnsCounters(t.nodeA.netns),
    readNetnsCounters(t.nodeB.netns),
    readNetnsCounters(t.nodeB.pod.netns),
  ]);
  return { conntrack: parseConntrackStat(stat.stdout), nodeA, nodeB, podB };
}

/** Keep the nonzero deltas plus the named ones (zero when absent). */
function withKeys(delta: Record<string, number>, keep: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(delta)) if (v !== 0 || keep.includes(k)) out[k] = v;
  for (const k of keep) if (!(k in out)) out[k] = 0;
  return out;
}

function kubeService(t: VxlanTopology, opts: VxlanOptions): KubeService {
  return {
    clusterCidr: t.clusterCidr,
    serviceIp: t.serviceIp,
    servicePort: opts.servicePort,
    endpointIp: t.nodeB.pod.address,
    endpointPort: opts.serverPort,
    vxlanPort: t.vxlanPort,
  };
}

/** One mode's node state: kube-proxy's nat table on both nodes, the vxlan devices' offload, empty conntrack tables. */
async function applyMode(t: VxlanTopology, svc: KubeService, mode: VxlanMode): Promise<void> {
  const batch = kubeProxyNatBatch(svc, mode.rules, mode.flag);
  for (const node of [t.nodeA, t.nodeB]) {
    // A whole-table restore (no --noflush): the node namespace's nat table is the harness's alone.
    await runInNetns(node.netns, 'iptables-restore', ['-w', '10'], { input: batch });
    await setOffload(node.netns, t.vxlanDevice, 'tx', !mode.offloadOff);
    // The namespace's own conntrack table: entries of the previous mode must not carry its NAT bindings over.
    await runInNetns(node.netns, 'conntrack', ['-F'], { check: false });
  }
}

async function requireEthtool(): Promise<void> {
  const r = await run('ethtool', ['--version'], { check: false }).catch(() => null);
  if (!r || r.code !== 0) throw new PrerequisiteError('ethtool not found: install it (Debian: apt-get install ethtool)');
}

/**
 * `vxlan` on the netns backend: two flannel-style nodes, kube-proxy rules inside them, a host-network client on
 * node A connecting to a service backed by a pod on node B. For each mode the rules are replaced, the connects
 * run, and node A's tables and every namespace's counters tell whether the VXLAN packets were masqueraded a
 * second time and whether that lost anything. Nothing is created on the host; the namespaces go in `finally`.
 */
export async function runVxlan(opts: VxlanOptions, command: string, hooks: ScenarioHooks = {}): Promise<ResultFile> {
  await requireEthtool();
  // The host's run lock is taken here, before the subnets are picked, and released after everything is gone.
  const session = await RunSession.open(command, hooks);
  const { runId, startedAt, state, phase } = session;

  let plan: ReturnType<typeof planVxlanTopology> | null = null;
  let server: AgentProcess | null = null;
  const modes: ModeResult[] = [];

  try {
    const [underlaySubnet, clusterSubnet, serviceSubnet] = pickFreeSubnets(await prefixesInUse(), 3);
    if (!underlaySubnet || !clusterSubnet || !serviceSubnet) throw new UserError('no free subnet for the harness');
    const topoReq = {
      runId, underlaySubnet, clusterSubnet, serviceSubnet, vxlanPort: opts.vxlanPort,
      onCreate: (ns: string) => void state.add('netns', ns),
    };
    plan = planVxlanTopology(topoReq);
    const config: OtherScenarioConfig = {
      backend: 'netns',
      modes: opts.modes.map((m) => m.name),
      connections: opts.connections,
      workers: opts.workers,
      concurrency: opts.concurrency,
      durationSec: opts.durationSec,
      connectTimeoutMs: opts.connectTimeoutMs,
      serverWorkers: opts.serverWorkers,
      serverPort: opts.serverPort,
      servicePort: opts.servicePort,
      vxlanPort: opts.vxlanPort,
      underlaySubnet: plan.underlaySubnet,
      clusterCidr: plan.clusterCidr,
      serviceIp: plan.serviceIp,
    };
    phase(`topology: nodes on ${plan.underlaySubnet}, pods in ${plan.clusterCidr} over ${plan.vxlanDevice} (UDP ${plan.vxlanPort}), service ${plan.serviceIp}:${opts.servicePort} (run ${runId})`);
    const topo = await createVxlanTopology(topoReq);
    const svc = kubeService(topo, opts);
    const environment = await collectEnvironment('netns');
    // Positive control: node B must count a broken outer checksum, or "0 checksum errors" proves nothing.
    const probe = await runChecksumProbe(topo.nodeA.netns, topo.nodeB.netns, topo.nodeB.underlay);
    config['checksumProbe'] = probe;
    phase(describeProbe(probe));

    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: 'rst', workers: opts.serverWorkers, backlog: 65535, protocol: 'tcp' };
    server = new AgentProcess('server agent (pod B)', topo.nodeB.pod.netns, 'tcp/server', serverCfg, SERVER_NICE);
    await server.waitFor('ready', 15_000);

    for (const [index, mode] of opts.modes.entries()) {
      if (session.interrupted) break;
      await applyMode(topo, svc, mode);
      const rule = describePostrouting(mode.rules, mode.flag);
      phase(`mode ${mode.name}: ${rule}${mode.offloadOff ? `; ethtool -K ${topo.vxlanDevice} tx off` : ''}`);
      const before = await snapshot(topo);

      const cfg: TcpClientConfig = {
        host: topo.serviceIp,
        port: opts.servicePort,
        workers: opts.workers,
        concurrency: opts.concurrency,
        connections: opts.connections,
        durationMs: opts.durationSec * 1000,
        connectTimeoutMs: opts.connectTimeoutMs,
        close: 'rst',
        progressIntervalMs: 500,
      };
      const c = new AgentProcess('client agent (node A host network)', topo.nodeA.netns, 'tcp/client', cfg);
      session.load = [c];
      await c.waitFor('ready', 15_000);
      if (session.interrupted) break;
      relayClientProgress([c], hooks, { mode: mode.name, index, total: opts.modes.length, target: opts.connections });
      c.send('start');
      // Bounded: the agent stops at its quota or duration; the watchdog allows one connect timeout more.
      const result: TcpClientResultEvent = await c.waitFor('result', opts.durationSec * 1000 + opts.connectTimeoutMs + 15_000);
      await c.stop();
      session.load = [];

      // Let in-flight packets settle (a last RST, a late retransmit) before reading tables and counters.
      await new Promise((r) => setTimeout(r, 200));
      const [after, flows, rules] = await Promise.all([
        snapshot(topo),
        readConntrackFlows(topo.nodeA.netns, ['-p', 'udp', '--dport', String(topo.vxlanPort), '-s', topo.nodeA.underlay]),
        readRuleCounters(topo.nodeA.netns, 'nat'),
      ]);
      const m = analyzeVxlanMode({
        mode,
        rule,
        client: result,
        counters: {
          conntrack: withKeys(conntrackDelta(before.conntrack, after.conntrack), CONNTRACK_KEYS),
          clients: netCountersDelta(before.nodeA, after.nodeA, NODE_A_KEYS),
          server: netCountersDelta(before.podB, after.podB, POD_B_KEYS),
        },
        receiver: netCountersDelta(before.nodeB, after.nodeB, NODE_B_KEYS),
        outer: summarizeOuterFlows(flows, topo.nodeA.underlay, topo.vxlanPort),
        markedOuterFlows: packetsOf(rules, 'POSTROUTING', MARKED_VXLAN_COMMENT),
        masqueradeHits: packetsOf(rules, 'KUBE-POSTROUTING', SNAT_COMMENT, 'MASQUERADE'),
        durationMs: result.elapsedMs,
        connectTimeoutMs: opts.connectTimeoutMs,
        receiverVerifiesChecksums: probe.ran ? probe.verified : null,
      });
      if (result.aborted) session.interrupted = true;
      modes.push(m);
      phase(`mode ${mode.name}: ${m.verdict} — ${m.reason}`);
    }

    const base = resultBase({ runId, startedAt, command, interrupted: session.interrupted, environment, modes, summary: summarizeVxlan(modes) });
    return { ...base, scenario: 'vxlan', config };
  } finally {
    phase('teardown');
    for (const c of session.load) c.kill();
    if (server) await server.stop();
    if (plan) await teardownVxlanTopology(plan).catch(() => undefined);
    await session.close();
  }
}
