import { UserError } from '../../errors.js';
import { MASQUERADE_MODES, type CloseMode, type MasqueradeMode, type TcpSynConfig, type TcpSynLoadChoice, type TcpSynProtocol } from '../../types.js';
import { BURST_DEFAULTS, portRangesOverlap } from '../../agents/tcp/nativeBurst.js';
import type { FlagTable } from '../shared/definition.js';
import { parseModeList } from '../shared/modeList.js';
import { parseDetectRate, parseWholeNumber as intIn } from '../shared/numberOption.js';
import { durationOption } from '../shared/durationOption.js';

/** The options of a run, before the backend adds its subnets. */
export type TcpSynOptions = Omit<TcpSynConfig, 'clientSubnet' | 'serverSubnet' | 'backend'>;

/** The flags of `repro tcp-syn`, as yargs hands them over (before validation). */
export interface TcpSynArgs {
  modes: string;
  workers: number;
  concurrency: number;
  /** Seconds, or a duration as written (30s, 2m). */
  duration: number | string;
  /** Absent: 40000-40199 with --close rst; Linux's own 32768-60999 with --close fin (TIME_WAIT holds ports). */
  'port-range'?: string | undefined;
  close: string;
  /** Milliseconds, or a duration as written (8s). */
  'connect-timeout': number | string;
  'server-workers': number;
  port: number;
  /** Absent: tcp. */
  protocol?: string | undefined;
  /** Absent: false. Needs --protocol http. */
  keepalive?: boolean | undefined;
  /** Absent: both (burst, then steady). */
  load?: string | undefined;
  /** Absent: 10000-32767 (below every default ephemeral range). Needs a burst phase (--load both or burst). */
  'burst-ports'?: string | undefined;
  /** Absent: 4 (both, steady), 2 (burst). */
  clients?: number | undefined;
  /** Absent: 30 000 (both: the steady phase), 150 000 (steady), 10 000 (burst). */
  connections?: number | undefined;
  /** Absent: 10 (both: the steady phase), 5 (steady), 50 (burst). */
  'detect-rate'?: number | undefined;
  /** Absent: on. */
  capture?: string | undefined;
}

export const TCP_SYN_DEFAULTS = {
  modes: MASQUERADE_MODES.join(','),
  clients: 4,
  workers: 2,
  concurrency: 16,
  connections: 150_000,
  duration: 30,
  close: 'rst',
  'connect-timeout': 8000,
  'server-workers': 2,
  port: 8080,
  'detect-rate': 5,
  protocol: 'tcp',
  keepalive: false,
  capture: 'on',
} as const;

export const DEFAULT_PORT_RANGE: Record<CloseMode, string> = { rst: '40000-40199', fin: '32768-60999' };

/** What --load burst changes by default (and the default's burst phase runs): two clients on two CPUs race each round; 10 000 attempts are seconds. */
export const BURST_LOAD_DEFAULTS = { clients: BURST_DEFAULTS.clients, connections: BURST_DEFAULTS.connections, ports: '10000-32767', detectRate: 50 } as const;

/**
 * The default run's steady phase: 30 000 connects (4-5 s per mode at ~7 000/s here) keep the whole default under
 * 2 minutes on the docker backend, whose idle background window doubles each mode; 10 per 100 000 is the smallest
 * round rate 0 in 30 000 rules out (one-sided 95 %: needs 29 958). `--load steady` alone keeps 150 000 and 5.
 */
export const BOTH_LOAD_DEFAULTS = { connections: 30_000, detectRate: 10 } as const;

const d = TCP_SYN_DEFAULTS;
export const TCP_SYN_FLAGS: FlagTable = {
  modes: { type: 'string', default: d.modes, describe: 'MASQUERADE configurations to compare, comma-separated: none (no flag), random (--random), random-fully (--random-fully)' },
  load: { type: 'string', choices: ['both', 'burst', 'steady'], default: 'both', describe: 'both: per mode the burst phase, then the steady phase, into one result; burst: every round two clients bind the same source port and connect at one instant (is this rule vulnerable, in seconds; its rates are provoked, not a workload\'s); steady: a connect storm (how often a workload like this hits the race)' },
  clients: { type: 'number', describe: 'client hosts behind the NAT (1-64; the burst phase races the first 2) [default: 4; 2 with --load burst]' },
  workers: { type: 'number', default: d.workers, describe: 'worker threads per client (1-32)' },
  concurrency: { type: 'number', default: d.concurrency, describe: 'connects in flight per worker (1-4096)' },
  connections: { type: 'number', describe: 'connect attempts per mode, over all clients; with --load both the steady phase\'s (the burst phase makes 10000) [default: 30000; 150000 with --load steady; 10000 with --load burst]' },
  'burst-ports': { type: 'string', describe: 'with a burst phase (--load both or burst): the source ports the rounds take in turn, LO-HI, outside the clients\' --port-range [default: 10000-32767]' },
  duration: { type: 'string', default: d.duration, describe: 'per mode at most (30s, 2m; a bare number is seconds); a mode stops at --connections or --duration, whichever comes first' },
  'port-range': { type: 'string', describe: "the clients' ip_local_port_range LO-HI; narrow ranges make clients pick the same source ports, which the race needs [default: 40000-40199 with --close rst, 32768-60999 with --close fin]" },
  close: { type: 'string', choices: ['rst', 'fin'], default: d.close, describe: 'how clients close: rst (no TIME_WAIT, ports reused at once) or fin (orderly close, TIME_WAIT)' },
  'connect-timeout': { type: 'string', default: d['connect-timeout'], describe: 'time (8s, 500ms; a bare number is ms) before an attempt is given up and counted as ETIMEDOUT (8000 shows the 1 s, 3 s and 7 s signatures)' },
  'server-workers': { type: 'number', default: d['server-workers'], describe: 'server processes accepting on the shared listener' },
  port: { type: 'number', default: d.port, describe: 'TCP port of the server agent' },
  'detect-rate': { type: 'number', describe: 'race rate per 100 000 attempts that a not-reproduced (steady) or not-vulnerable (burst) verdict must rule out (one-sided 95 %); fewer attempts make a mode inconclusive; with --load both the steady phase\'s (the burst phase rules out 50) [default: 10; 5 with --load steady; 50 with --load burst, whose no-flag rate is thousands]' },
  protocol: { type: 'string', choices: ['tcp', 'http'], default: d.protocol, describe: 'what an attempt is: tcp (a bare connect) or http (a GET through undici, one fresh connection per request; records connect and request latency)' },
  keepalive: { type: 'boolean', default: d.keepalive, describe: 'with --protocol http: pooled keep-alive connections, the mitigation to compare (most requests then open no connection)' },
  capture: { type: 'string', choices: ['on', 'off'], default: d.capture, describe: "capture SYNs on both sides of the NAT (tcpdump) and match every lost SYN to the flow it collided with; off: attribution by the counters alone" },
};

export function parseModes(text: string): MasqueradeMode[] {
  return parseModeList(text, MASQUERADE_MODES, 'mode');
}

export function parsePortRange(text: string, flag = '--port-range'): [number, number] {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(String(text));
  if (!m) throw new UserError(`${flag} must look like LO-HI (e.g. 40000-40199), got "${text}"`);
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  if (lo < 1024 || hi > 65535 || lo >= hi) {
    throw new UserError(`${flag} ${text}: needs 1024 <= LO < HI <= 65535`);
  }
  return [lo, hi];
}

export function validateTcpSynArgs(a: TcpSynArgs): TcpSynOptions {
  const close = a.close as CloseMode;
  if (close !== 'rst' && close !== 'fin') throw new UserError(`--close must be rst or fin, got "${a.close}"`);
  const rangeText = a['port-range'] ?? DEFAULT_PORT_RANGE[close];
  const portRange = parsePortRange(rangeText);
  const load = (a.load ?? 'both') as TcpSynLoadChoice;
  if (load !== 'both' && load !== 'steady' && load !== 'burst') throw new UserError(`--load must be both, burst or steady, got "${a.load}"`);
  const burst = load === 'burst';
  const both = load === 'both';
  const sized = (steady: number, burstOnly: number, bothSteady: number): number => (burst ? burstOnly : both ? bothSteady : steady);
  const opts: TcpSynOptions = {
    modes: parseModes(a.modes),
    clients: intIn('clients', a.clients ?? (burst ? BURST_LOAD_DEFAULTS.clients : d.clients), 1, 64),
    workers: intIn('workers', a.workers, 1, 32),
    concurrency: intIn('concurrency', a.concurrency, 1, 4096),
    connections: intIn('connections', a.connections ?? sized(d.connections, BURST_LOAD_DEFAULTS.connections, BOTH_LOAD_DEFAULTS.connections), 1, 100_000_000),
    durationSec: durationOption('duration', a.duration, 's', 1, 86_400),
    portRange,
    close,
    connectTimeoutMs: durationOption('connect-timeout', a['connect-timeout'], 'ms', 100, 300_000),
    serverWorkers: intIn('server-workers', a['server-workers'], 1, 64),
    serverPort: intIn('port', a.port, 1, 65535),
    detectRatePer100k: parseDetectRate(a['detect-rate'] ?? sized(d['detect-rate'], BURST_LOAD_DEFAULTS.detectRate, BOTH_LOAD_DEFAULTS.detectRate), 'attempts'),
  };
  const protocol = (a.protocol ?? 'tcp') as TcpSynProtocol;
  if (protocol !== 'tcp' && protocol !== 'http') throw new UserError(`--protocol must be tcp or http, got "${a.protocol}"`);
  const keepalive = a.keepalive ?? false;
  if (keepalive && protocol !== 'http') throw new UserError('--keepalive needs --protocol http (a bare TCP connect has nothing to keep alive)');
  opts.protocol = protocol;
  opts.keepalive = keepalive;
  opts.load = load;
  if (a['burst-ports'] !== undefined && load === 'steady') throw new UserError('--burst-ports needs a burst phase (--load both or burst)');
  if (burst || both) {
    // --load both with --protocol http: the burst phase still makes bare connects (it asks about the rule, not the app).
    if (burst && protocol !== 'tcp') throw new UserError('--load burst makes bare TCP connects: it takes no --protocol http');
    if (both) {
      if (opts.clients < BURST_LOAD_DEFAULTS.clients) throw new UserError(`--load both races ${BURST_LOAD_DEFAULTS.clients} clients in its burst phase: --clients ${opts.clients} is too few (or --load steady)`);
      opts.burstPhase = { clients: BURST_LOAD_DEFAULTS.clients, connections: BURST_LOAD_DEFAULTS.connections, detectRatePer100k: BURST_LOAD_DEFAULTS.detectRate };
    }
    const burstPorts = parsePortRange(a['burst-ports'] ?? BURST_LOAD_DEFAULTS.ports, '--burst-ports');
    if (portRangesOverlap(burstPorts, portRange)) {
      throw new UserError(`--burst-ports ${burstPorts.join('-')} overlap the clients' --port-range ${portRange.join('-')}: the kernel would hand those ports out too${both ? ' (the default --load both runs a burst phase: move --burst-ports, or --load steady)' : ''}`);
    }
    if (opts.serverPort >= burstPorts[0] && opts.serverPort <= burstPorts[1]) throw new UserError(`--burst-ports ${burstPorts.join('-')} hold the server's --port ${opts.serverPort}`);
    const racing = opts.burstPhase?.clients ?? opts.clients;
    if (burstPorts[1] - burstPorts[0] + 1 <= racing * BURST_DEFAULTS.inFlightRounds) {
      throw new UserError(`--burst-ports ${burstPorts.join('-')}: more than ${racing * BURST_DEFAULTS.inFlightRounds} ports needed (${BURST_DEFAULTS.inFlightRounds} rounds in flight per client)`);
    }
    opts.burstPorts = burstPorts;
  }
  const capture = a.capture ?? 'on';
  if (capture !== 'on' && capture !== 'off') throw new UserError(`--capture must be on or off, got "${a.capture}"`);
  opts.capture = capture === 'on';
  const ports = portRange[1] - portRange[0] + 1;
  if (opts.workers * opts.concurrency > ports) {
    throw new UserError(
      `--workers x --concurrency (${opts.workers * opts.concurrency} connects in flight per client) exceeds the ${ports} ports of --port-range ${rangeText}`,
    );
  }
  return opts;
}
