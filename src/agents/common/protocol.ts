/**
 * Agents run inside each client and server host and speak NDJSON on stdout: one JSON object per line.
 * The runner writes "start\n" on an agent's stdin to release the load; closing stdin tells any agent to stop.
 */
import type { CloseMode, TcpSynProtocol } from '../../types.js';
import type { HttpFigures } from '../tcp/loadWorker.js';
import type { DnsAgentEvent } from '../dns/protocol.js';
import type { AgentResources } from './resources.js';
import type { ClientConnectPath, ConnectPath } from '../tcp/connector.js';

/** Listen backlog of the harness's servers (their namespaces' somaxconn and tcp_max_syn_backlog are raised to match). */
export const LISTEN_BACKLOG = 65_535;

/** An agent, named by its compiled script under dist/agents/. */
export type AgentName = 'tcp/client' | 'tcp/burst' | 'tcp/server' | 'dns/client' | 'dns/server';

export interface ReadyEvent {
  type: 'ready';
  role: 'tcp-client' | 'tcp-server' | 'dns-client' | 'dns-server';
  pid: number;
}

export interface ProgressEvent {
  type: 'progress';
  attempts: number;
  succeeded: number;
  failed: number;
  /** Attempts slower than 900 ms so far (the 1 s retransmit signature and beyond). */
  stalls: number;
}

export interface TcpClientResultEvent {
  type: 'result';
  attempts: number;
  succeeded: number;
  failed: number;
  failures: Record<string, number>;
  /** Connect latencies of successful attempts, microseconds, hdr compressed base64. */
  histogram: string;
  /** Time to failure of failed attempts, microseconds, hdr compressed base64. */
  failureHistogram: string;
  /** `protocol: 'http'` only: request latencies of successful requests and the TCP connects opened. */
  http?: HttpFigures;
  elapsedMs: number;
  aborted: boolean;
  /** tcp only: how the workers connected (handle: libuv's TCP handle directly; socket: net.Socket). */
  connectPath?: ConnectPath;
  /** The client process's CPU and peak memory (all its worker threads). */
  resources?: AgentResources;
  /** The same when the load was released: resources.cpuMs - resourcesAtStart.cpuMs is the load's own CPU. */
  resourcesAtStart?: AgentResources;
  /** tcp/burst only: its rounds and what each client host's thread did. */
  burst?: BurstFigures;
}

/** What the burst load did beyond the counts every client reports. */
export interface BurstFigures {
  /** Rounds in which every client connected from the round's port (attempts = rounds x clients). */
  rounds: number;
  /** Rounds passed over because a client still had an attempt in flight on that port. */
  skippedRounds: number;
  clients: { netnsPath: string; cpu: number; attempts: number; succeeded: number; failed: number; stalls: number }[];
}

export interface TcpServerStatsEvent {
  type: 'stats';
  accepted: number;
  workers: number;
  /** How the workers accept: handle (a bare sink that only waits for the client's close) or socket (net.Socket, speaks HTTP). */
  acceptPath?: AcceptPath;
  /** Primary and workers together. */
  resources?: AgentResources;
}

export type AcceptPath = 'handle' | 'socket';

export interface ErrorEvent {
  type: 'error';
  message: string;
}

export type AgentEvent = ReadyEvent | ProgressEvent | TcpClientResultEvent | TcpServerStatsEvent | ErrorEvent | DnsAgentEvent;

export interface TcpClientConfig {
  host: string;
  port: number;
  workers: number;
  /** Attempts in flight per worker. */
  concurrency: number;
  /** Attempts this client makes in all (split over its workers). */
  connections: number;
  /** Stop starting new attempts after this long. */
  durationMs: number;
  connectTimeoutMs: number;
  close: CloseMode;
  progressIntervalMs: number;
  /** tcp (absent: tcp): bare connects; http: a GET per attempt through undici. */
  protocol?: TcpSynProtocol;
  /** http only: pooled keep-alive connections instead of a fresh connection per request (absent: false). */
  keepalive?: boolean;
  /** tcp only: how to connect (absent: auto, the handle path when this Node has it). */
  connectPath?: ClientConnectPath | 'auto';
}

/** tcp/burst: one process, one thread per client host, synchronized same-port connects (src/native/burstEngine.c). */
export interface TcpBurstConfig {
  host: string;
  port: number;
  /** The client hosts' network namespaces: /run/netns/NAME (netns backend), /proc/PID/ns/net (a container). */
  netnsPaths: string[];
  /** Attempts in all, over every client: floor(connections / clients) rounds of one connect per client. */
  connections: number;
  /** Stop starting rounds after this long. */
  durationMs: number;
  connectTimeoutMs: number;
  /** Source ports the rounds take in turn, outside the clients' ephemeral range. */
  burstPorts: [number, number];
  /** Attempts in flight per client thread (one per round). */
  inFlightRounds: number;
  progressIntervalMs: number;
  /** CPUs to pin the threads to, client i on cpus[i % length] (absent: spread over the CPUs allowed). */
  cpus?: number[];
}

export interface TcpServerConfig {
  port: number;
  /** How the clients close; decides how the server closes its side. */
  close: CloseMode;
  workers: number;
  backlog: number;
  /** What the clients speak (absent: http, which serves both). With tcp the workers accept into a bare sink
   * (handle path) when this Node has it: raw clients never send a byte, so no net.Socket is built per connection. */
  protocol?: TcpSynProtocol;
}

export function emit(event: AgentEvent): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

/** Parse one NDJSON line from an agent; anything that is not an event is reported as an error event. */
export function parseEvent(line: string): AgentEvent {
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v === 'object' && v !== null && 'type' in v && typeof (v as { type: unknown }).type === 'string') {
      return v as AgentEvent;
    }
  } catch {
    // fall through
  }
  return { type: 'error', message: `agent printed a non-event line: ${line.slice(0, 200)}` };
}

/** Read the agent's config: the first CLI argument, as JSON. */
export function configFromArgv<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error('agent: missing JSON config argument');
  return JSON.parse(raw) as T;
}
