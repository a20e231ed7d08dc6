import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { netnsName, newRunId } from '../../src/host/names.js';
import { kubeProxyNatBatch, type KubeService, type PostroutingVariant } from '../../src/scenarios/vxlan/kubeProxyRules.js';

/**
 * Network namespaces shaped like the nodes audit reads, each with real rules and devices of its own (nothing in the
 * host namespace), and a resolv.conf that `ip netns exec` binds for it (/etc/netns/NAME/resolv.conf).
 */
export type NodeShape = 'docker' | 'kube-legacy' | 'kube-patched' | 'nft-native';

export interface ShapedNode {
  shape: NodeShape;
  netns: string;
  resolvConf: string;
}

const SVC: KubeService = { clusterCidr: '10.244.0.0/16', serviceIp: '10.96.0.20', servicePort: 80, endpointIp: '10.244.1.5', endpointPort: 8080, vxlanPort: 8472 };

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });
}

/** A flannel-style vxlan device (own port, no learning, outer UDP checksum 0). */
function flannelDevice(ns: string): void {
  sh('ip', ['-n', ns, 'link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'nolearning', 'noudpcsum', 'local', '10.9.9.9']);
  sh('ip', ['-n', ns, 'addr', 'add', '10.244.0.0/32', 'dev', 'flannel.1']);
  sh('ip', ['-n', ns, 'link', 'set', 'flannel.1', 'up']);
}

const NFT_NATIVE = `table ip natlab {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.88.0.0/16 oifname "eth0" masquerade
    ip saddr 10.89.0.0/16 masquerade fully-random
  }
}
`;

function shape(ns: string, s: NodeShape): void {
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  if (s === 'docker') {
    sh('ip', ['-n', ns, 'link', 'add', 'docker0', 'type', 'bridge']);
    sh('ip', ['-n', ns, 'addr', 'add', '172.17.0.1/16', 'dev', 'docker0']);
    sh('ip', ['netns', 'exec', ns, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '172.17.0.0/16', '!', '-o', 'docker0', '-j', 'MASQUERADE']);
    return;
  }
  if (s === 'nft-native') {
    sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], NFT_NATIVE);
    return;
  }
  flannelDevice(ns);
  const variant: PostroutingVariant = s === 'kube-legacy' ? 'legacy' : 'patched';
  sh('ip', ['netns', 'exec', ns, 'iptables-restore'], kubeProxyNatBatch(SVC, variant, 'random-fully'));
}

/** resolv.conf per shape: the patched node's pods use single-request-reopen; the others glibc's default. */
const RESOLV: Record<NodeShape, string> = {
  docker: 'nameserver 10.96.0.10\noptions ndots:5\n',
  'kube-legacy': 'nameserver 10.96.0.10\nsearch default.svc.cluster.local\noptions ndots:5\n',
  'kube-patched': 'nameserver 10.96.0.10\noptions ndots:5 single-request-reopen\n',
  'nft-native': 'nameserver 10.96.0.10\n',
};

export function buildNodes(shapes: readonly NodeShape[]): { nodes: ShapedNode[]; destroy(): void } {
  const id = newRunId();
  const nodes: ShapedNode[] = [];
  // /etc/netns is the host's when it was there before; made here, it goes with the last node (host as found).
  const hadEtcNetns = existsSync('/etc/netns');
  const destroy = (): void => {
    for (const n of nodes) {
      try {
        sh('ip', ['netns', 'del', n.netns]);
      } catch {
        // not created: nothing to remove
      }
      rmSync(`/etc/netns/${n.netns}`, { recursive: true, force: true });
    }
    if (!hadEtcNetns && existsSync('/etc/netns') && readdirSync('/etc/netns').length === 0) rmdirSync('/etc/netns');
  };
  try {
    shapes.forEach((s, i) => {
      const netns = netnsName(id, `n${i}`);
      const node = { shape: s, netns, resolvConf: RESOLV[s] };
      nodes.push(node);
      sh('ip', ['netns', 'add', netns]);
      mkdirSync(`/etc/netns/${netns}`, { recursive: true });
      writeFileSync(`/etc/netns/${netns}/resolv.conf`, node.resolvConf);
      shape(netns, s);
    });
  } catch (err) {
    destroy();
    throw err;
  }
  return { nodes, destroy };
}

/** What audit must leave exactly as it found in a namespace: both iptables families and the whole nft ruleset. */
export function rulesSnapshot(netns: string): Record<string, string> {
  const inNs = (cmd: string, ...args: string[]): string => sh('ip', ['netns', 'exec', netns, cmd, ...args]);
  const strip = (t: string): string => t.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  return {
    iptables: strip(inNs('iptables-save', '-c')),
    ip6tables: strip(inNs('ip6tables-save', '-c')),
    nft: inNs('nft', 'list', 'ruleset'),
    links: inNs('ip', '-d', 'link', 'show'),
  };
}
