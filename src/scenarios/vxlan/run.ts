import { run, runInNetns } from '../../host/exec.js';
import { UserError, PrerequisiteError } from '../../errors.js';
import { AgentProcess, HIGH_PRIORITY_NICE } from '../../backends/netns/agentProcess.js';
import { pickFreeSubnets, prefixesInUse } from '../../host/subnets.js';
import { conntrackCounters, readNetnsConntrackStat, type ConntrackStat } from '../../host/conntrackStat.js';
import { netCountersDelta, readNetnsCounters, type NetCounters } from '../../host/netstat.js';
import { readConntrackFlows } from '../../host/conntrackFlows.js';
import { flushNetnsTable } from '../../host/conntrackTable.js';
import { restoreNetnsTables } from '../../host/iptables.js';
import { packetsOf, readRuleCounters } from '../../host/iptablesCounters.js';
import { collectEnvironment } from '../../host/environment.js';
import type { ModeResult, OtherScenarioConfig, ResultFile } from '../../types.js';
import type { TcpClientConfig, TcpServerConfig } from '../../agents/common/protocol.js';
import { withRun } from '../shared/runScope.js';
import { runModes } from '../shared/modeLoop.js';
import { resultBase } from '../shared/resultBase.js';
import { readSynSchedule } from '../shared/synScheduleOf.js';
import { SERVER_BACKLOG } from '../shared/natLab.js';
import { AGENT_READY_TIMEOUT_MS, PROGRESS_INTERVAL_MS } from '../shared/timing.js';
import type { RunContext } from '../shared/definition.js';
import { createVxlanTopology, planVxlanTopology, setOffload, teardownVxlanTopology, type VxlanTopology } from './topology.js';
import { describePostrouting, kubeProxyNatBatch, MARKED_VXLAN_COMMENT, SNAT_COMMENT, type KubeService } from './kubeProxyRules.js';
import { describeProbe, runChecksumProbe } from './checksumProbe.js';
import { summarizeOuterFlows } from './doubleSnat.js';
import { analyzeVxlanMode, summarizeVxlan } from './analyze.js';
import type { VxlanMode, VxlanOptions } from './options.js';

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
  const [conntrack, nodeA, nodeB, podB] = await Promise.all([
    readNetnsConntrackStat(t.nodeA.netns),
    readNetnsCounters(t.nodeA.netns),
    readNetnsCounters(t.nodeB.netns),
    readNetnsCounters(t.nodeB.pod.netns),
  ]);
  return { conntrack, nodeA, nodeB, podB };
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

/** One mode's node state: kube-proxy's nat table on both nodes and the vxlan devices' offload. */
async function applyMode(t: VxlanTopology, svc: KubeService, mode: VxlanMode): Promise<void> {
  const batch = kubeProxyNatBatch(svc, mode.rules, mode.flag);
  for (const node of [t.nodeA, t.nodeB]) {
    // A whole-table restore: the node namespace's nat table is the harness's alone.
    await restoreNetnsTables(node.netns, batch);
    await setOffload(node.netns, t.vxlanDevice, 'tx', !mode.offloadOff);
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
 * second time and whether that lost anything. Nothing is created on the host; the namespaces go when the run ends.
 */
export async function runVxlan(opts: VxlanOptions, ctx: RunContext): Promise<ResultFile> {
  await requireEthtool();
  return withRun(ctx.command, ctx.hooks, async (scope) => {
    const { session } = scope;
    const { runId, state, phase } = session;
    const [underlaySubnet, clusterSubnet, serviceSubnet] = pickFreeSubnets(await prefixesInUse(), 3);
    if (!underlaySubnet || !clusterSubnet || !serviceSubnet) throw new UserError('no free subnet for the harness');
    const topoReq = {
      runId, underlaySubnet, clusterSubnet, serviceSubnet, vxlanPort: opts.vxlanPort,
      onCreate: (ns: string) => void state.add('netns', ns),
    };
    const plan = planVxlanTopology(topoReq);
    scope.onTeardown(() => teardownVxlanTopology(plan));
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
    const environment = await collectEnvironment('netns', null, topo.nodeA.netns);
    // The client is node A's host network: its namespace's schedule decides the bands.
    const synSchedule = await readSynSchedule([{ name: topo.nodeA.netns }], (c, cmd, args) => runInNetns(c.name, cmd, args));
    // Positive control: node B must count a broken outer checksum, or "0 checksum errors" proves nothing.
    const probe = await runChecksumProbe(topo.nodeA.netns, topo.nodeB.netns, topo.nodeB.underlay);
    config['checksumProbe'] = probe;
    phase(describeProbe(probe));

    const serverCfg: TcpServerConfig = { port: opts.serverPort, close: 'rst', workers: opts.serverWorkers, backlog: SERVER_BACKLOG, protocol: 'tcp' };
    const server = new AgentProcess('server agent (pod B)', topo.nodeB.pod.netns, 'tcp/server', serverCfg, HIGH_PRIORITY_NICE);
    scope.onTeardown(() => server.stop());
    await server.waitFor('ready', AGENT_READY_TIMEOUT_MS);

    const clientCfg: TcpClientConfig = {
      host: topo.serviceIp,
      port: opts.servicePort,
      workers: opts.workers,
      concurrency: opts.concurrency,
      connections: opts.connections,
      durationMs: opts.durationSec * 1000,
      connectTimeoutMs: opts.connectTimeoutMs,
      close: 'rst',
      progressIntervalMs: PROGRESS_INTERVAL_MS,
    };
    const modes: ModeResult[] = await runModes(session, ctx.hooks, opts.modes, {
      name: (mode) => mode.name,
      prepare: async (mode) => {
        await applyMode(topo, svc, mode);
        return describePostrouting(mode.rules, mode.flag) + (mode.offloadOff ? `; ethtool -K ${topo.vxlanDevice} tx off` : '');
      },
      // The nodes' own conntrack tables: entries of the previous mode must not carry its NAT bindings over.
      clearEntries: async () => {
        for (const node of [topo.nodeA, topo.nodeB]) await flushNetnsTable(node.netns);
      },
      snapshot: () => snapshot(topo),
      startLoad: async () => [new AgentProcess('client agent (node A host network)', topo.nodeA.netns, 'tcp/client', clientCfg)],
      resultEvent: 'result',
      target: opts.connections,
      loadBoundMs: opts.durationSec * 1000 + opts.connectTimeoutMs,
      boundText: '--duration + --connect-timeout',
      durationSec: opts.durationSec,
      analyze: async (mode, _rule, results, before, after, durationMs) => {
        const [flows, rules] = await Promise.all([
          readConntrackFlows(topo.nodeA.netns, ['-p', 'udp', '--dport', String(topo.vxlanPort), '-s', topo.nodeA.underlay]),
          readRuleCounters(topo.nodeA.netns, 'nat'),
        ]);
        const result = results[0];
        if (!result) throw new Error('vxlan: the client agent gave no result');
        const m = analyzeVxlanMode({
          mode,
          rule: describePostrouting(mode.rules, mode.flag),
          client: result,
          counters: {
            conntrack: conntrackCounters(before.conntrack, after.conntrack, CONNTRACK_KEYS),
            clients: netCountersDelta(before.nodeA, after.nodeA, NODE_A_KEYS),
            server: netCountersDelta(before.podB, after.podB, POD_B_KEYS),
          },
          receiver: netCountersDelta(before.nodeB, after.nodeB, NODE_B_KEYS),
          outer: summarizeOuterFlows(flows, topo.nodeA.underlay, topo.vxlanPort),
          markedOuterFlows: packetsOf(rules, 'POSTROUTING', MARKED_VXLAN_COMMENT),
          masqueradeHits: packetsOf(rules, 'KUBE-POSTROUTING', SNAT_COMMENT, 'MASQUERADE'),
          durationMs,
          connectTimeoutMs: opts.connectTimeoutMs,
          synSchedule,
          receiverVerifiesChecksums: probe.ran ? probe.verified : null,
        });
        phase(`mode ${mode.name}: ${m.verdict} — ${m.reason}`);
        return m;
      },
    });

    const base = resultBase({ runId, startedAt: session.startedAt, command: ctx.command, interrupted: session.interrupted, environment, modes, summary: summarizeVxlan(modes) });
    return { ...base, scenario: 'vxlan', config };
  });
}
