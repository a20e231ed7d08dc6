import { run, runInNetns } from '../../host/exec.js';
import { formatIpv4, formatPrefix, hostAddress, type Prefix } from '../../host/subnets.js';
import { netnsName } from '../../host/names.js';
import { SERVER_SYSCTLS } from '../shared/natLab.js';
import { deleteNetnsAndLinks } from '../../backends/netns/namespaces.js';
import { setNetnsSysctl } from '../../host/netnsSysctl.js';

/**
 * The vxlan scenario's topology, flannel-style, entirely inside the harness's own namespaces (nothing on the
 * host: no link, route or rule). Two "node" namespaces joined by a veth underlay; each node has a vxlan device
 * (`flannel.1`, its own UDP port, no UDP checksum as flannel creates it) carrying its half of the cluster CIDR,
 * and a bridge (`cni0`) with one pod namespace behind it. Node A's own namespace is its host network: a client
 * there reaches pod B through a service address, so the packet crosses node A's netfilter twice
 * (plain, then VXLAN-encapsulated).
 *
 *   pod A (.2) ─ cni0 (.1) ─ node A ─ flannel.1 (.0/32) ══ VXLAN over eth0 (underlay .1) ─┐
 *                                                                                        │ veth
 *   pod B (.130) ─ cni0 (.129) ─ node B ─ flannel.1 (.128/32) ══ VXLAN over eth0 (.2) ───┘
 */
export interface VxlanNode {
  netns: string;
  /** Address on the underlay (the node's "host" address). */
  underlay: string;
  /** Address of the vxlan device: the first of the node's pod /25, as flannel gives it. */
  vxlanAddress: string;
  /** The node's pod /25 and its bridge address. */
  podCidr: string;
  bridgeAddress: string;
  pod: { netns: string; address: string };
}

export interface VxlanTopology {
  runId: string;
  underlaySubnet: string;
  clusterCidr: string;
  serviceSubnet: string;
  serviceIp: string;
  vxlanPort: number;
  /** Device names inside the node namespaces. */
  vxlanDevice: string;
  underlayDevice: string;
  bridge: string;
  nodeA: VxlanNode;
  nodeB: VxlanNode;
}

export interface VxlanTopologyRequest {
  runId: string;
  underlaySubnet: Prefix;
  /** A /24 split in two /25s, one per node, like flannel's per-node subnets of 10.244.0.0/16. */
  clusterSubnet: Prefix;
  serviceSubnet: Prefix;
  vxlanPort: number;
  /** Called with each namespace right before it is created, so a crash mid-way can still be cleaned up. */
  onCreate?: (netns: string) => void;
}

const VXLAN_DEVICE = 'flannel.1';
const UNDERLAY_DEVICE = 'eth0';
const BRIDGE = 'cni0';
const VNI = '1';

/** Names and addresses, computed without touching anything. */
export function planVxlanTopology(req: VxlanTopologyRequest): VxlanTopology {
  if (req.clusterSubnet.length !== 24) throw new Error('the cluster subnet must be a /24 (split into two /25s)');
  const c = req.clusterSubnet;
  const node = (role: 'a' | 'b', underlayIndex: number, base: number): VxlanNode => ({
    netns: netnsName(req.runId, `node${role}`),
    underlay: hostAddress(req.underlaySubnet, underlayIndex),
    // The vxlan address is the /25's network address, as flannel assigns 10.244.N.0/32 to flannel.1.
    vxlanAddress: formatIpv4(c.network + base),
    podCidr: formatPrefix({ network: c.network + base, length: 25 }),
    bridgeAddress: hostAddress(c, base + 1),
    pod: { netns: netnsName(req.runId, `pod${role}`), address: hostAddress(c, base + 2) },
  });
  return {
    runId: req.runId,
    underlaySubnet: formatPrefix(req.underlaySubnet),
    clusterCidr: formatPrefix(c),
    serviceSubnet: formatPrefix(req.serviceSubnet),
    serviceIp: hostAddress(req.serviceSubnet, 10),
    vxlanPort: req.vxlanPort,
    vxlanDevice: VXLAN_DEVICE,
    underlayDevice: UNDERLAY_DEVICE,
    bridge: BRIDGE,
    nodeA: node('a', 1, 0),
    nodeB: node('b', 2, 128),
  };
}

export function vxlanNamespaces(t: VxlanTopology): string[] {
  return [t.nodeA.netns, t.nodeB.netns, t.nodeA.pod.netns, t.nodeB.pod.netns];
}

const ip = (ns: string, args: string[]): Promise<unknown> => run('ip', ['-n', ns, ...args]);

async function deviceMac(ns: string, dev: string): Promise<string> {
  const { stdout } = await run('ip', ['-n', ns, '-o', 'link', 'show', dev]);
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(stdout)?.[1];
  if (!mac) throw new Error(`no MAC address on ${dev} in ${ns}`);
  return mac;
}

/** Checksum offloads of a device inside a namespace (`ethtool -K DEV tx|rx on|off`). */
export async function setOffload(ns: string, dev: string, feature: 'tx' | 'rx', on: boolean): Promise<void> {
  await runInNetns(ns, 'ethtool', ['-K', dev, feature, on ? 'on' : 'off']);
}

/** Build it. On failure whatever was created is left for teardown (the namespace names are known). */
export async function createVxlanTopology(req: VxlanTopologyRequest): Promise<VxlanTopology> {
  const t = planVxlanTopology(req);
  const underlayLen = req.underlaySubnet.length;
  for (const ns of vxlanNamespaces(t)) {
    req.onCreate?.(ns);
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, ['link', 'set', 'lo', 'up']);
  }
  const { nodeA: a, nodeB: b } = t;
  // The underlay: one veth pair created straight between the two node namespaces (it never exists on the host).
  await ip(a.netns, ['link', 'add', t.underlayDevice, 'type', 'veth', 'peer', 'name', t.underlayDevice, 'netns', b.netns]);
  for (const n of [a, b]) {
    await ip(n.netns, ['addr', 'add', `${n.underlay}/${underlayLen}`, 'dev', t.underlayDevice]);
    await ip(n.netns, ['link', 'set', t.underlayDevice, 'up']);
    // The veth stands in for a NIC: with tx checksumming off the stack completes every checksum before the
    // "wire", so the receiving node verifies what actually arrives (over a veth a CHECKSUM_PARTIAL skb would
    // otherwise be trusted unchecked, and a broken checksum could never be dropped).
    await setOffload(n.netns, t.underlayDevice, 'tx', false);
    // flannel's vxlan device: own port, no learning, no UDP checksum on the outer header (the zero checksum
    // that old kernels' NAT corrupted when it rewrote the outer source port).
    await ip(n.netns, [
      'link', 'add', t.vxlanDevice, 'type', 'vxlan', 'id', VNI, 'local', n.underlay, 'dev', t.underlayDevice,
      'dstport', String(t.vxlanPort), 'nolearning', 'noudpcsum',
    ]);
    await ip(n.netns, ['addr', 'add', `${n.vxlanAddress}/32`, 'dev', t.vxlanDevice]);
    await ip(n.netns, ['link', 'set', t.vxlanDevice, 'up']);
    await ip(n.netns, ['link', 'add', t.bridge, 'type', 'bridge']);
    await ip(n.netns, ['addr', 'add', `${n.bridgeAddress}/25`, 'dev', t.bridge]);
    await ip(n.netns, ['link', 'set', t.bridge, 'up']);
    await ip(n.netns, ['link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.pod.netns]);
    await ip(n.netns, ['link', 'set', 'veth0', 'master', t.bridge]);
    await ip(n.netns, ['link', 'set', 'veth0', 'up']);
    await ip(n.pod.netns, ['addr', 'add', `${n.pod.address}/25`, 'dev', 'eth0']);
    await ip(n.pod.netns, ['link', 'set', 'eth0', 'up']);
    // Pods reach the cluster CIDR through their node and nothing else.
    await ip(n.pod.netns, ['route', 'add', t.clusterCidr, 'via', n.bridgeAddress]);
    // Forwarding inside the node's own namespace only (pod <-> vxlan device).
    await setNetnsSysctl(n.netns, 'net.ipv4.ip_forward', '1');
  }
  // flannel's static entries: the peer's vxlan address as an on-link gateway for its pod /25, its MAC in the
  // neighbour table, and an FDB entry sending that MAC to the peer's underlay address.
  for (const [self, peer] of [[a, b], [b, a]] as const) {
    const peerMac = await deviceMac(peer.netns, t.vxlanDevice);
    await ip(self.netns, ['neigh', 'add', peer.vxlanAddress, 'lladdr', peerMac, 'dev', t.vxlanDevice, 'nud', 'permanent']);
    await ip(self.netns, ['route', 'add', peer.podCidr, 'via', peer.vxlanAddress, 'dev', t.vxlanDevice, 'onlink']);
    await run('bridge', ['-n', self.netns, 'fdb', 'append', peerMac, 'dev', t.vxlanDevice, 'dst', peer.underlay, 'self', 'permanent']);
  }
  // Node A reaches the service subnet the way a node's default route would: out of its underlay, so a
  // host-network client's source is the node address, outside the cluster CIDR, and kube-proxy marks it.
  await ip(a.netns, ['route', 'add', t.serviceSubnet, 'via', b.underlay, 'dev', t.underlayDevice]);
  // The pod's listener must never be the bottleneck: deep accept and SYN queues in its own namespace.
  for (const [key, value] of Object.entries(SERVER_SYSCTLS)) await setNetnsSysctl(b.pod.netns, key, value);
  return t;
}

/** Delete the four namespaces (their veths and vxlan devices go with them). Missing ones are fine. */
export async function teardownVxlanTopology(t: VxlanTopology): Promise<void> {
  await deleteNetnsAndLinks(vxlanNamespaces(t), []);
}
