import { dockerAnswers } from '../backends/docker/daemon.js';
import { planTopology } from '../backends/netns/namespaces.js';
import { containerName, linkName, netnsName, newRunId } from '../host/names.js';
import { formatPrefix, hostAddress, pickFreeSubnets, prefixesInUse, type Prefix } from '../host/subnets.js';
import { endpointChain, installBatch, masqueradeRule, natChain, notrackChain, serviceChain, type SnatTopology } from '../host/iptables.js';
import { planVxlanTopology, vxlanNamespaces } from '../scenarios/vxlan/topology.js';
import type { ScenarioEntry } from '../scenarios/shared/definition.js';
import type { TcpSynOptions } from '../scenarios/tcpSyn/options.js';
import type { DnsOptions } from '../scenarios/dns/options.js';
import type { VxlanOptions } from '../scenarios/vxlan/options.js';
import type { BackendName, MasqueradeMode } from '../types.js';
import { planDnsMode, type DnsMode } from '../scenarios/dns/modes.js';
import { UserError } from '../errors.js';

/** What a run of these options would create, as lines of text; nothing is created and no lock is taken. */
export interface DryRunPlan {
  runId: string;
  backend: BackendName;
  lines: string[];
}

function subnets(inUse: readonly Prefix[], count: number): Prefix[] {
  const picked = pickFreeSubnets(inUse, count);
  if (picked.length < count) throw new UserError('no free subnet for the harness (every candidate overlaps a route, address or rule of this host)');
  return picked;
}

const list = (names: readonly string[]): string => names.join(', ');

/**
 * The plan of a NAT lab (tcp-syn, dns): the namespaces or containers and networks, the subnets, the run's chains
 * as iptables-restore would receive them, and each mode's MASQUERADE rule. Pure, given the picks.
 */
export function natLabPlan(
  runId: string, backend: BackendName, clients: number, portRange: [number, number], modes: readonly string[], picks: [Prefix, Prefix],
  modeRule: (mode: string, masquerade: (flag: MasqueradeMode) => string) => string,
): string[] {
  const [clientPrefix, serverPrefix] = picks;
  const clientSubnet = formatPrefix(clientPrefix);
  const serverSubnet = formatPrefix(serverPrefix);
  const lines = [`subnets: clients ${clientSubnet}, server ${serverSubnet} (free now; picked again when the run starts${backend === 'docker' ? ", also clear of Docker's networks" : ''})`];
  let snat: SnatTopology;
  if (backend === 'netns') {
    const t = planTopology({ runId, clients, clientSubnet: clientPrefix, serverSubnet: serverPrefix, portRange });
    lines.push(
      `namespaces: ${list([t.router, ...t.clients.map((c) => c.netns), t.server.netns])}`,
      `links (inside ${t.router}; none in the host's namespace): ${list([`${t.bridge} (bridge, ${t.gateway})`, t.serverLink, ...t.clients.map((_, i) => linkName(runId, `c${i}`))])}; eth0 in each client and the server`,
      `clients: ${list(t.clients.map((c) => `${c.netns} ${c.address}`))}, ip_local_port_range ${portRange.join(' ')}; server ${t.server.netns} ${t.server.address}`,
    );
    snat = { runId, clientSubnet: t.clientSubnet, clientBridge: t.bridge, serverSubnet: t.serverSubnet, forwardHook: 'FORWARD', netns: t.router };
  } else {
    const clientBridge = linkName(runId, 'cbr');
    const names = Array.from({ length: clients }, (_, i) => containerName(runId, `c${i}`));
    lines.push(
      `docker networks: ${containerName(runId, 'clients')} (${clientSubnet}, bridge ${clientBridge}, Docker's own masquerade off), ${containerName(runId, 'server')} (${serverSubnet}, bridge ${linkName(runId, 'sbr')})`,
      `containers: ${list([...names.map((n, i) => `${n} ${hostAddress(clientPrefix, 10 + i)}`), `${containerName(runId, 'srv')} ${hostAddress(serverPrefix, 2)}`])}`,
    );
    snat = { runId, clientSubnet, clientBridge, serverSubnet, forwardHook: 'DOCKER-USER', netns: null };
  }
  const where = snat.netns ? `in ${snat.netns}` : "in the host's namespace, labelled with the run id";
  lines.push(`rules (${where}), as iptables-restore receives them:`);
  for (const l of installBatch(snat).split('\n').filter((x) => x !== '')) lines.push(`  ${l}`);
  lines.push(`per mode, ${natChain(runId)} holds one rule:`);
  for (const m of modes) lines.push(`  ${m}: ${modeRule(m, (flag) => masqueradeRule(natChain(runId), clientSubnet, snat.clientBridge, flag))}`);
  return lines;
}

/** `--dry-run`: validate as a run would, then say what it would create. Reads the host (routes, rules, the daemon); writes nothing. */
export async function dryRunPlan(s: ScenarioEntry, args: Record<string, unknown>): Promise<DryRunPlan> {
  const prepared = s.prepare(args);
  const requested = String(args['backend'] ?? 'auto');
  const backend: BackendName = s.backends.includes('docker') && (requested === 'docker' || (requested === 'auto' && (await dockerAnswers()))) ? 'docker' : 'netns';
  const runId = newRunId();
  const inUse = await prefixesInUse();
  const lines = [`modes: ${prepared.modeNames.join(', ')}`];
  if (s.name === 'vxlan') {
    const o = prepared.options as VxlanOptions;
    const [underlay, cluster, service] = subnets(inUse, 3) as [Prefix, Prefix, Prefix];
    const t = planVxlanTopology({ runId, underlaySubnet: underlay, clusterSubnet: cluster, serviceSubnet: service, vxlanPort: o.vxlanPort });
    lines.push(
      `subnets: underlay ${t.underlaySubnet}, cluster ${t.clusterCidr}, service ${t.serviceSubnet} (free now; picked again when the run starts)`,
      `namespaces: ${list(vxlanNamespaces(t))}`,
      `links: in each node ${t.underlayDevice} (one veth pair between the nodes), ${t.vxlanDevice} (vxlan, UDP ${t.vxlanPort}) and ${t.bridge}; a veth to its pod; none in the host's namespace`,
      `service: ${t.serviceIp}:${o.servicePort} -> pod B ${t.nodeB.pod.address}:${o.serverPort}`,
      `rules (in ${t.nodeA.netns} and ${t.nodeB.netns}): kube-proxy's KUBE-SERVICES and KUBE-POSTROUTING as each mode sets them (legacy or patched, with its MASQUERADE flag)`,
    );
  } else {
    const o = prepared.options as TcpSynOptions | DnsOptions;
    const portRange: [number, number] = 'portRange' in o ? o.portRange : [32768, 60999];
    const picks = subnets(inUse, 2) as [Prefix, Prefix];
    if (s.name === 'tcp-syn') lines.push(...natLabPlan(runId, backend, o.clients, portRange, prepared.modeNames, picks, (m, rule) => rule(m as MasqueradeMode)));
    if (s.name === 'dns') {
      const d = o as DnsOptions;
      lines.push(
        ...natLabPlan(runId, backend, o.clients, portRange, prepared.modeNames, picks, (m, rule) => {
          const p = planDnsMode(m as DnsMode, d.vip);
          if (p.masquerade === null) return `no NAT rule; raw ${notrackChain(runId)}: CT --notrack for UDP ${d.port}`;
          return `${rule(p.masquerade)}${p.resolverOptions.length > 0 ? `; resolv.conf options ${p.resolverOptions.join(' ')}` : ''}`;
        }),
      );
      if (d.vip) lines.push(`  service VIP: ${serviceChain(runId)} -> ${list(Array.from({ length: d.backends }, (_, i) => endpointChain(runId, i)))} (DNAT to ${d.backends} backends, at random)`);
      lines.push(`resolver files: a resolv.conf and nsswitch.conf per client${backend === 'netns' ? ` (/etc/netns/${netnsName(runId, 'c0')}/ ...)` : ' (bind-mounted)'}`);
    }
  }
  return { runId, backend, lines };
}

/** The listing: one header line, then the plan. */
export function renderDryRun(scenario: string, p: DryRunPlan): string {
  return [
    `repro ${scenario} --dry-run: nothing created, no lock taken; a run would create, on the ${p.backend} backend (its run id is drawn when it starts; ${p.runId} here):`,
    ...p.lines.map((l) => `  ${l}`),
    `  every name above carries the run id: repro cleanup --run <id> removes what a killed run left`,
  ].join('\n');
}
