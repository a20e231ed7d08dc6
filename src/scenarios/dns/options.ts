import { UserError } from '../../errors.js';
import { DNS_MODES, parseDnsModes, type DnsMode } from './modes.js';
import { isDnsName, canonicalName } from '../../agents/dns/packets.js';
import { GLIBC_ATTEMPTS, GLIBC_TIMEOUT_MS } from '../../agents/dns/glibcResolver.js';
import { MAX_ENDPOINTS } from '../../host/iptables.js';
import { BURST_PORTS, type DnsOptions } from './run.js';
import type { DnsClientKind } from '../../agents/dns/protocol.js';
import { parseWholeNumber as intIn } from '../shared/numberOption.js';

/** The flags of `repro dns`, as yargs hands them over (before validation). */
export interface DnsArgs {
  client: string;
  modes?: string | undefined;
  clients: number;
  workers: number;
  concurrency: number;
  queries: number;
  duration: number;
  backends: number;
  vip: string;
  zone: string;
  'server-workers': number;
  port: number;
  'detect-rate': number;
}

export const DNS_CLIENTS: readonly DnsClientKind[] = ['raw', 'libc', 'burst'];

/** resolv.conf mitigations only change glibc's behaviour: the other clients compare the NAT paths only. */
export const DEFAULT_DNS_MODES: Record<DnsClientKind, readonly DnsMode[]> = {
  libc: DNS_MODES,
  raw: ['none', 'random', 'random-fully', 'notrack'],
  burst: ['none', 'random', 'random-fully', 'notrack'],
};

export const DNS_DEFAULTS = {
  client: 'libc',
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

export function validateDnsArgs(a: DnsArgs): DnsOptions {
  if (!(DNS_CLIENTS as readonly string[]).includes(a.client)) throw new UserError(`--client must be one of ${DNS_CLIENTS.join(', ')}, got "${a.client}"`);
  const client = a.client as DnsClientKind;
  if (a.vip !== 'on' && a.vip !== 'off') throw new UserError(`--vip must be on or off, got "${a.vip}"`);
  // Room for the lookup label (h<number>.) below the zone.
  if (typeof a.zone !== 'string' || !isDnsName(a.zone) || canonicalName(a.zone).length > 230) {
    throw new UserError(`--zone "${String(a.zone)}" is not a DNS name (labels of letters, digits and inner hyphens, separated by dots)`);
  }
  const rate = a['detect-rate'];
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > 100_000) {
    throw new UserError(`--detect-rate must be a number above 0 and at most 100000 (per 100 000 lookups), got ${String(rate)}`);
  }
  const opts: DnsOptions = {
    modes: a.modes === undefined ? [...DEFAULT_DNS_MODES[client]] : parseDnsModes(a.modes),
    client,
    clients: intIn('clients', a.clients, 1, 64),
    workers: intIn('workers', a.workers, 1, 32),
    concurrency: intIn('concurrency', a.concurrency, 1, 1024),
    queries: intIn('queries', a.queries, 1, 10_000_000),
    durationSec: intIn('duration', a.duration, 1, 86_400),
    backends: intIn('backends', a.backends, 1, MAX_ENDPOINTS),
    vip: a.vip === 'on',
    zone: canonicalName(a.zone),
    timeoutMs: GLIBC_TIMEOUT_MS,
    attempts: GLIBC_ATTEMPTS,
    serverWorkers: intIn('server-workers', a['server-workers'], 1, 64),
    port: intIn('port', a.port, 1, 65535),
    detectRatePer100k: rate,
  };
  if (client === 'burst') {
    const rounds = Math.ceil(opts.queries / opts.clients / opts.workers);
    const ports = BURST_PORTS[1] - BURST_PORTS[0] + 1;
    if (rounds > ports) {
      throw new UserError(`--client burst: ${rounds} rounds per client exceed the ${ports} source ports a mode can use once each: lower --queries or raise --clients/--workers`);
    }
    if (opts.workers < 2) throw new UserError('--client burst needs --workers 2 or more (the workers are what collide)');
  }
  if (client === 'libc' && opts.workers * opts.concurrency > 1020) {
    throw new UserError(`--workers x --concurrency (${opts.workers * opts.concurrency}) exceeds the 1020 lookups libuv's thread pool can run at once`);
  }
  return opts;
}
