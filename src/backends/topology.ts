import type { AgentConnection } from '../runner/agentConnection.js';
import type { AgentName } from '../agents/common/protocol.js';
import type { NetCounters } from '../host/netstat.js';
import type { ConntrackStat } from '../host/conntrackStat.js';
import type { BackendName } from '../types.js';
import type { ExecResult } from '../host/exec.js';

/**
 * The topology contract both backends build, so scenarios never know which one runs:
 * K clients on a client network whose bridge is `clientBridge`, a server on a network of its own, and between
 * them the NAT under test: in a router namespace of the run's own (netns), or in the host (docker, Docker's shape).
 */
export interface TestHost {
  role: 'client' | 'server';
  /** Namespace or container name. */
  name: string;
  address: string;
}

export interface AgentStart {
  label: string;
  agent: AgentName;
  config: object;
  /** Servers run above the load's CPU priority: on a 2-core host the clients would otherwise starve them. */
  priority: 'high' | 'normal';
}

/** A client's resolver configuration (resolv.conf and a DNS-only nsswitch.conf), seen by processes started after it. */
export interface ResolverFiles {
  write(host: TestHost, resolvConf: string, nsswitch: string): Promise<void>;
  /** Remove every file written; safe to call twice. */
  removeAll(): Promise<void>;
}

export interface Topology {
  backend: BackendName;
  runId: string;
  clientSubnet: string;
  serverSubnet: string;
  /** The client network's bridge where the NAT runs: the MASQUERADE rule's `! -o` device. */
  clientBridge: string;
  /** The namespace that holds the NAT under test, its rules and its conntrack table; null: the host's own. */
  natNetns: string | null;
  /** Conntrack stats where the NAT happens. */
  readNatStats(): Promise<ConntrackStat>;
  /** Forget the lab's conntrack entries where the NAT happens (before each mode), never anyone else's. */
  clearNatEntries(): Promise<void>;
  /** Built-in or Docker chain the harness's forward accepts hang from (FORWARD, or DOCKER-USER under Docker). */
  forwardHook: string;
  clients: TestHost[];
  server: TestHost;
  /** Extra facts for the result's environment block (e.g. Docker's version). */
  docker: { version: string } | null;
  startAgent(host: TestHost, start: AgentStart): Promise<AgentConnection>;
  /** Run a host-side command (e.g. `ip`) inside the host's network namespace. */
  nsExec(host: TestHost, cmd: string, args: readonly string[]): Promise<ExecResult>;
  /** The host's network namespace as a path the runner can open (setns): /run/netns/NAME, /proc/<pid>/ns/net. */
  netnsPath(host: TestHost): Promise<string>;
  /** Where the host's own file system is seen from the runner: '/' for a namespace, /proc/<pid>/root for a container. */
  rootDir(host: TestHost): Promise<string>;
  resolvers: ResolverFiles;
  /** nstat-style counters (/proc/net/snmp + netstat) of the host's network namespace. */
  readCounters(host: TestHost): Promise<NetCounters>;
  /** Remove everything the topology created; safe to call twice and after a partial build. */
  teardown(): Promise<void>;
}

export interface TopologyRequest {
  runId: string;
  clients: number;
  portRange: [number, number];
  /** Namespaced sysctls every client gets (e.g. tcp_tw_reuse). */
  serverSysctls: Record<string, string>;
  clientSysctls: Record<string, string>;
}
