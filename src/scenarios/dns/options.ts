import { UserError } from '../../errors.js';
import type { FlagTable } from '../shared/definition.js';
import { affectsOnlyLibc, DNS_MODES, parseDnsModes, type DnsMode } from './modes.js';
import { isDnsName, canonicalName } from '../../agents/dns/packets.js';
import { GLIBC_ATTEMPTS, GLIBC_TIMEOUT_MS } from '../../agents/dns/glibcResolver.js';
import { MAX_ENDPOINTS } from '../../host/iptables.js';
import type { DnsClientKind } from '../../agents/dns/protocol.js';
import { parseDetectRate, parseWholeNumber as intIn } from '../shared/numberOption.js';
import { durationOption } from '../shared/durationOption.js';

/** --client: both (the default: the provoking burst client, then glibc, into one result), or one client alone. */
export type DnsClientChoice = DnsClientKind | 'both';

export interface DnsOptions {
  modes: DnsMode[];
  client: DnsClientChoice;
  clients: number;
  workers: number;
  concurrency: number;
  /** Lookups per mode over all clients (burst: queries). */
  queries: number;
  durationSec: number;
  backends: number;
  vip: boolean;
  zone: string;
  timeoutMs: number;
  attempts: number;
  serverWorkers: number;
  port: number;
  detectRatePer100k: number;
}

/** Clients' ephemeral ports, and the block below it the burst rounds rotate through (never handed out by the kernel). */
export const CLIENT_PORT_RANGE: [number, number] = [32768, 60999];
export const BURST_PORTS: [number, number] = [10000, 32767];
/** libuv's thread pool runs at most 1024 getaddrinfo calls at once; a few threads stay free for the agent's own work. */
const LIBC_LOOKUPS_IN_FLIGHT_MAX = 1020;

/** The flags of `repro dns`, as yargs hands them over (before validation). */
export interface DnsArgs {
  client: string;
  modes?: string | undefined;
  clients: number;
  workers: number;
  concurrency: number;
  queries: number;
  /** Seconds, or a duration as written (15s, 1m). */
  duration: number | string;
  backends: number;
  vip: string;
  zone: string;
  'server-workers': number;
  port: number;
  'detect-rate': number;
}

export const DNS_CLIENTS: readonly DnsClientChoice[] = ['both', 'raw', 'libc', 'burst'];

/**
 * The clients a run uses, in order, each with its modes: with both, the burst client first (does this path race at
 * all: lockstep queries provoke the clash) on the modes that change the NAT path, then glibc on every mode.
 */
export function clientPhases(o: Pick<DnsOptions, 'client' | 'modes'>): { client: DnsClientKind; modes: DnsMode[] }[] {
  if (o.client !== 'both') return [{ client: o.client, modes: o.modes }];
  const burstModes = o.modes.filter((m) => !affectsOnlyLibc(m));
  return [...(burstModes.length > 0 ? [{ client: 'burst' as const, modes: burstModes }] : []), { client: 'libc', modes: o.modes }];
}

/** resolv.conf mitigations only change glibc's behaviour: the other clients compare the NAT paths only. */
export const DEFAULT_DNS_MODES: Record<DnsClientChoice, readonly DnsMode[]> = {
  both: DNS_MODES,
  libc: DNS_MODES,
  raw: ['none', 'random', 'random-fully', 'notrack'],
  burst: ['none', 'random', 'random-fully', 'notrack'],
};

export const DNS_DEFAULTS = {
  client: 'both',
  clients: 4,
  workers: 2,
  concurrency: 16,
  queries: 12_000,
  duration: 15,
  backends: 3,
  vip: 'on',
  zone: 'repro.test',
  'server-workers': 2,
  port: 53,
  'detect-rate': 25,
} as const;

const d = DNS_DEFAULTS;
export const DNS_FLAGS: FlagTable = {
  client: { type: 'string', choices: [...DNS_CLIENTS], default: d.client, describe: "both: burst first (does the path race at all), then libc, into one result; libc: glibc's getaddrinfo with a resolv.conf per client; raw: A+AAAA back to back from a fresh UDP socket, glibc's timing; burst: lockstep workers sending from one source port at once" },
  modes: { type: 'string', describe: `configurations to compare, comma-separated, from: ${DNS_MODES.join(', ')} [default: all of them with --client libc; none,random,random-fully,notrack otherwise]` },
  clients: { type: 'number', default: d.clients, describe: 'client hosts behind the NAT (1-64)' },
  workers: { type: 'number', default: d.workers, describe: 'worker threads per client (1-32; burst: the sockets that share a source port)' },
  concurrency: { type: 'number', default: d.concurrency, describe: 'lookups in flight per worker (1-1024; burst workers move in lockstep)' },
  queries: { type: 'number', default: d.queries, describe: 'lookups per mode over all clients (burst: queries)' },
  duration: { type: 'string', default: d.duration, describe: 'load per mode at most (15s, 1m; a bare number is seconds); a mode stops at --queries or --duration, whichever comes first' },
  backends: { type: 'number', default: d.backends, describe: 'DNS service endpoints behind the VIP (1-26)' },
  vip: { type: 'string', choices: ['on', 'off'], default: d.vip, describe: "on: clients ask a service VIP the host DNATs to the backends at random (kube-proxy's iptables shape); off: they ask the first backend" },
  zone: { type: 'string', default: d.zone, describe: 'the test zone the server answers (A and AAAA for every name below it, NXDOMAIN elsewhere)' },
  'server-workers': { type: 'number', default: d['server-workers'], describe: "processes reading the DNS server's shared sockets" },
  port: { type: 'number', default: d.port, describe: 'UDP/TCP port of the DNS service' },
  'detect-rate': { type: 'number', default: d['detect-rate'], describe: 'race rate per 100 000 lookups that a not-reproduced verdict must rule out (95 %)' },
};

export function validateDnsArgs(a: DnsArgs): DnsOptions {
  if (!(DNS_CLIENTS as readonly string[]).includes(a.client)) throw new UserError(`--client must be one of ${DNS_CLIENTS.join(', ')}, got "${a.client}"`);
  const client = a.client as DnsClientChoice;
  if (a.vip !== 'on' && a.vip !== 'off') throw new UserError(`--vip must be on or off, got "${a.vip}"`);
  // Room for the lookup label (h<number>.) below the zone.
  if (typeof a.zone !== 'string' || !isDnsName(a.zone) || canonicalName(a.zone).length > 230) {
    throw new UserError(`--zone "${String(a.zone)}" is not a DNS name (labels of letters, digits and inner hyphens, separated by dots)`);
  }
  const rate = parseDetectRate(a['detect-rate'], 'lookups');
  const opts: DnsOptions = {
    modes: a.modes === undefined ? [...DEFAULT_DNS_MODES[client]] : parseDnsModes(a.modes),
    client,
    clients: intIn('clients', a.clients, 1, 64),
    workers: intIn('workers', a.workers, 1, 32),
    concurrency: intIn('concurrency', a.concurrency, 1, 1024),
    queries: intIn('queries', a.queries, 1, 10_000_000),
    durationSec: durationOption('duration', a.duration, 's', 1, 86_400),
    backends: intIn('backends', a.backends, 1, MAX_ENDPOINTS),
    vip: a.vip === 'on',
    zone: canonicalName(a.zone),
    timeoutMs: GLIBC_TIMEOUT_MS,
    attempts: GLIBC_ATTEMPTS,
    serverWorkers: intIn('server-workers', a['server-workers'], 1, 64),
    port: intIn('port', a.port, 1, 65535),
    detectRatePer100k: rate,
  };
  if (client === 'burst' || client === 'both') {
    const rounds = Math.ceil(opts.queries / opts.clients / opts.workers);
    const ports = BURST_PORTS[1] - BURST_PORTS[0] + 1;
    if (rounds > ports) {
      throw new UserError(`--client burst: ${rounds} rounds per client exceed the ${ports} source ports a mode can use once each: lower --queries or raise --clients/--workers`);
    }
    if (opts.workers < 2) throw new UserError(`--client ${client} needs --workers 2 or more (the burst client's workers are what collide)`);
  }
  if ((client === 'libc' || client === 'both') && opts.workers * opts.concurrency > LIBC_LOOKUPS_IN_FLIGHT_MAX) {
    throw new UserError(`--workers x --concurrency (${opts.workers * opts.concurrency}) exceeds the ${LIBC_LOOKUPS_IN_FLIGHT_MAX} lookups libuv's thread pool can run at once`);
  }
  return opts;
}
