/**
 * NDJSON events and configs of the DNS agents (the common framing is in protocol.ts).
 * Clients report `progress` events like the TCP client and one `dns-result` at the end; the server answers
 * `dns-stats` when asked ("stats" on stdin) and when it stops.
 */
import type { AgentResources } from '../common/resources.js';
import type { DnsSocketPath } from '../../types.js';

export type DnsClientKind = 'raw' | 'libc' | 'burst';

export interface DnsServerConfig {
  zone: string;
  /** Every backend address of the server host: one UDP socket each, so an answer leaves from the address its
   * query was DNAT'd to (a 0.0.0.0 socket would answer from the primary address, which conntrack cannot match). */
  addresses: string[];
  port: number;
  /** Processes reading the shared UDP socket and accepting on the shared TCP listener. */
  workers: number;
  /** SO_RCVBUF asked for the UDP socket (the kernel caps it at net.core.rmem_max). */
  recvBufferBytes: number;
}

export interface DnsClientConfig {
  kind: DnsClientKind;
  /** The address queried: the service VIP, or a backend directly. */
  server: string;
  port: number;
  zone: string;
  workers: number;
  /** Lookups in flight per worker (raw, libc); burst workers move in lockstep, one query each per round. */
  concurrency: number;
  /** Lookups (raw, libc) or queries (burst) this client makes in all. */
  lookups: number;
  durationMs: number;
  /** glibc's `options timeout:` and `attempts:` (raw and burst mimic them; libc reads them from resolv.conf). */
  timeoutMs: number;
  attempts: number;
  /** First lookup number, so every client asks distinct names. */
  nameOffset: number;
  /** Burst: source ports the rounds rotate through (outside ip_local_port_range), one fresh port per round. */
  burstPorts: [number, number];
  progressIntervalMs: number;
  /** raw: how lookups are made; 'auto' (the default): the native engine when it was built, else udp_wrap, else
   * dgram. The environment's REPRO_DNS_SOCKETS (same values) decides when this is absent or 'auto'. */
  sockets?: RawSocketChoice;
}

export interface DnsClientResultEvent {
  type: 'dns-result';
  lookups: number;
  succeeded: number;
  failed: number;
  /** Failed lookups by code: ETIMEDOUT (every try timed out), EAI_AGAIN (glibc's), NXDOMAIN, ... */
  failures: Record<string, number>;
  /** Lookup latency of successful lookups, microseconds, hdr compressed base64. */
  histogram: string;
  failureHistogram: string;
  /** Query packets sent, and how many of them were retries after a timeout (raw and burst; 0 for libc). */
  queriesSent: number;
  retries: number;
  /** Lookups that got fewer answers than asked (libc: glibc returned A or AAAA only). */
  partial: number;
  elapsedMs: number;
  aborted: boolean;
  /** raw: how its lookups were made ('native': the C engine of dns_engine.node; 'udp_wrap': Node's handle-level
   * binding; 'dgram': the public API). */
  socketPath?: RawSocketPath;
  /** CPU and peak RSS of the client process (all its worker threads). */
  resources?: AgentResources;
  /** The same when the load was released: what start-up (Node, worker threads, modules) cost. */
  resourcesAtStart?: AgentResources;
}

export type RawSocketPath = DnsSocketPath;
export type RawSocketChoice = 'auto' | RawSocketPath;
export const RAW_SOCKET_CHOICES: readonly RawSocketChoice[] = ['auto', 'native', 'udp_wrap', 'dgram'];

export interface DnsServerStatsEvent {
  type: 'dns-stats';
  udpQueries: number;
  tcpQueries: number;
  workers: number;
  /** SO_RCVBUF the kernel granted. */
  recvBufferBytes: number;
  /** The primary's and every worker's CPU and peak RSS, added up (workers' figures as of this event). */
  resources?: AgentResources;
}

export type DnsAgentEvent = DnsClientResultEvent | DnsServerStatsEvent;

/** Layout of the burst workers' shared control array (Int32Array): counters, then one state per slot. */
export const BURST_CTL = { ARRIVED: 0, GEN: 1, STOP: 2, REMAINING: 3, SLOTS: 4 } as const;

/** What the client process hands each worker thread. */
export interface DnsWorkerStart {
  server: string;
  port: number;
  zone: string;
  timeoutMs: number;
  attempts: number;
  nameOffset: number;
  burstPorts: [number, number];
  /** raw workers on libuv (dnsRawWorker.ts): udp_wrap where the binding is there ('auto'), or as asked. */
  sockets?: 'auto' | 'udp_wrap' | 'dgram';
  loop: {
    concurrency: number;
    quota: number;
    durationMs: number;
    progressIntervalMs: number;
    stallMs: number;
  };
  /** Burst only: the shared memory of the client's lockstep workers and this worker's slot. */
  burst?: { ctl: SharedArrayBuffer; answeredAt: SharedArrayBuffer; workers: number; index: number };
}
