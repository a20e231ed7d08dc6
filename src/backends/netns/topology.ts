import { AgentProcess, HIGH_PRIORITY_NICE } from './agentProcess.js';
import { readNetnsCounters } from '../../host/netstat.js';
import { runInNetns } from '../../host/exec.js';
import { readNetnsConntrackStat } from '../../host/conntrackStat.js';
import { flushNetnsTable } from '../../host/conntrackTable.js';
import { netnsResolverFiles } from './resolverFiles.js';
import { createTopology, planTopology, teardownTopology } from './namespaces.js';
import { pickFreeSubnets, prefixesInUse } from '../../host/subnets.js';
import type { RunStateFile } from '../../runner/runState.js';
import type { Topology, TopologyRequest } from '../topology.js';

/** The netns backend: client and server namespaces behind a router namespace that holds the NAT (namespaces.ts). */
export async function buildNetnsTopology(req: TopologyRequest, state: RunStateFile): Promise<Topology> {
  const [clientSubnet, serverSubnet] = pickFreeSubnets(await prefixesInUse(), 2);
  if (!clientSubnet || !serverSubnet) throw new Error('no free subnet');
  const netnsReq = { runId: req.runId, clients: req.clients, clientSubnet, serverSubnet, portRange: req.portRange };
  const plan = planTopology(netnsReq);
  const resolvers = netnsResolverFiles();
  const topology: Topology = {
    backend: 'netns',
    runId: req.runId,
    clientSubnet: plan.clientSubnet,
    serverSubnet: plan.serverSubnet,
    clientBridge: plan.bridge,
    forwardHook: 'FORWARD',
    natNetns: plan.router,
    readNatStats: () => readNetnsConntrackStat(plan.router),
    // The router's table holds the lab's entries alone.
    clearNatEntries: () => flushNetnsTable(plan.router),
    clients: plan.clients.map((c) => ({ role: 'client', name: c.netns, address: c.address })),
    server: { role: 'server', name: plan.server.netns, address: plan.server.address },
    docker: null,
    startAgent: async (host, s) =>
      new AgentProcess(s.label, host.name, s.agent, s.config, s.priority === 'high' ? HIGH_PRIORITY_NICE : 0),
    readCounters: (host) => readNetnsCounters(host.name),
    nsExec: (host, cmd, args) => runInNetns(host.name, cmd, args),
    netnsPath: async (host) => `/run/netns/${host.name}`,
    rootDir: async () => '/',
    resolvers,
    teardown: async () => {
      await resolvers.removeAll();
      await teardownTopology(plan);
    },
  };
  try {
    await createTopology({
      ...netnsReq,
      serverSysctls: req.serverSysctls,
      clientSysctls: req.clientSysctls,
      onCreate: (_kind, name) => void state.add('netns', name),
    });
  } catch (err) {
    await topology.teardown().catch(() => undefined);
    throw err;
  }
  return topology;
}
