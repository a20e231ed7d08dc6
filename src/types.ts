/** The result contract: `repro/result@1`. JSON is the source of truth; every rendering reads this. */

export const RESULT_SCHEMA = 'repro/result@1';

export type MasqueradeMode = 'none' | 'random' | 'random-fully';
export const MASQUERADE_MODES: readonly MasqueradeMode[] = ['none', 'random', 'random-fully'];

/**
 * `race-resolved` (dns): the race happened (the kernel counted clashes it resolved, `clashres`) and no lookup was
 * lost to it: the kernel races here and hides it. The kernel's selftest calls this outcome PASS.
 */
export type Verdict = 'reproduced' | 'race-resolved' | 'not-reproduced' | 'inconclusive' | 'invalid' | VulnerabilityVerdict;

/**
 * tcp-syn's burst phase answers another question than a steady storm: `vulnerable` says the rule loses SYNs to the
 * race when it is provoked (synchronized same-port connects), `not-vulnerable` that a provoked rate above a bound is
 * ruled out. `reproduced` / `not-reproduced` stay the steady storm's words: a workload-shaped load hit it, or not.
 */
export type VulnerabilityVerdict = 'vulnerable' | 'not-vulnerable';

export type ScenarioName = 'tcp-syn' | 'dns' | 'vxlan';
export type BackendName = 'netns' | 'docker';

export type CloseMode = 'rst' | 'fin';

/** What a tcp-syn attempt is: a bare TCP connect, or an HTTP/1.1 request through undici. */
export type TcpSynProtocol = 'tcp' | 'http';

/** How a TCP client agent opens connections: the native engine (src/native), libuv handles from JS, or net.Socket;
 * burst-native: tcp/burst's synchronized same-port connects (src/native/burstEngine.c). */
export type ConnectPath = 'native' | 'handle' | 'socket' | 'burst-native';
/** How the raw DNS client sent its lookups: the native engine, libuv UDP handles from JS, or dgram sockets. */
export type DnsSocketPath = 'native' | 'udp_wrap' | 'dgram';

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** One retransmit signature band: attempts whose connect latency lies in [loMs, hiMs]. */
export interface SignatureBand {
  name: string;
  lostSyns: number;
  loMs: number;
  hiMs: number;
  count: number;
}

export interface Attribution {
  /** Unit of the numbers below: lost SYNs for tcp-syn (a 3 s stall is three lost SYNs since 6.5), lost queries for dns. */
  unit: 'lost-syn' | 'lost-query' | 'lost-packet';
  /**
   * All losses, counted in `unit`: lost SYNs for tcp-syn and vxlan, lost queries for dns (the JSON name is the
   * contract's and stays). conntrackRace + serverOverload + unexplained = lostSyns.
   */
  lostSyns: number;
  conntrackRace: number;
  serverOverload: number;
  /** vxlan only: lost SYNs matched by checksum errors on the path (never counted as conntrackRace). */
  checksum?: number;
  unexplained: number;
  /**
   * Attempts (dns: lookups) with a confirmed loss: the unit comparisons test (an attempt stalls or not; its lost
   * SYNs describe it). Absent in older files (then the raw stalls stand in).
   */
  stalled?: number;
  /** Of the stalled attempts, those the race counter explains: min(stalled, conntrackRace). Absent in older files. */
  raceStalled?: number;
  /** tcp-syn: lost SYNs never retransmitted (the last one of each timed-out connect), counted from the schedule. */
  neverRetransmitted?: number;
}

/**
 * The kernel's SYN retransmit schedule a mode's bands were built from (net/ipv4/tcp_timer.c, see
 * src/analysis/synSchedule.ts): a connect whose first n SYNs were lost completes at completionMs[n - 1].
 */
export interface SynSchedule {
  /** net.ipv4.tcp_syn_linear_timeouts (6.5+); 0 where the sysctl is absent (exponential from the first retransmit). */
  linearTimeouts: number;
  /** net.ipv4.tcp_syn_retries. */
  retries: number;
  /** Initial RTO of a SYN (TCP_TIMEOUT_INIT, 1 s). */
  initialRtoMs: number;
  /** When a connect that lost its first n SYNs completes, n = 1 ..: the times the retransmits are sent. */
  completionMs: number[];
  /** When the kernel itself gives up (ETIMEDOUT) on a connect none of whose SYNs was answered. */
  giveUpMs: number;
  /** `sysctl`: read from the client's /proc/sys/net/ipv4; `assumed-exponential`: not read, the pre-6.5 defaults. */
  source: 'sysctl' | 'assumed-exponential';
}

/** dns: the resolver timing a mode's bands were built from, and where it came from. */
export interface ResolverTiming {
  timeoutMs: number;
  attempts: number;
  /** `resolv.conf`: parsed from the file written for the clients, as glibc reads it; `client-config`: the raw/burst clients' own. */
  source: 'resolv.conf' | 'client-config';
}

export interface ModeCounters {
  /** Deltas of /proc/net/stat/nf_conntrack in the namespace that does the NAT, summed over CPUs, by column name. */
  conntrack: Record<string, number>;
  /** nstat-style deltas summed over the client namespaces (e.g. TcpExtTCPSynRetrans). */
  clients: Record<string, number>;
  /** nstat-style deltas of the server namespace (e.g. TcpExtListenOverflows). */
  server: Record<string, number>;
}

/**
 * The host's own conntrack activity in an idle window right after the mode's load (docker backend: the NAT is the
 * host's, shared with every other container). A race count not above it, scaled to the load, is not evidence.
 */
export interface ModeBackground {
  /** The idle window's real length: as long as the load, but at most 30 s (its counts are scaled to the load's length). */
  windowMs: number;
  /** Deltas of the NAT namespace's conntrack stats over the window, by column (every one that moved). */
  conntrack: Record<string, number>;
}

export interface ModeResult {
  /** The configuration under test: a MASQUERADE mode for tcp-syn; scenario-specific names elsewhere. */
  mode: string;
  /** The MASQUERADE rule as written for this mode. */
  rule: string;
  attempts: number;
  succeeded: number;
  failed: number;
  /** Failed attempts by error code (ETIMEDOUT is the harness's own connect timeout). */
  failures: Record<string, number>;
  durationMs: number;
  connectsPerSecond: number;
  latencyMs: LatencyMs;
  /** Band name -> number of attempts, e.g. { "1s": 3, "3s": 0, ... }. */
  signatures: Record<string, number>;
  /** Attempts slower than the slow threshold that fall in no band. */
  slowOutsideBands: number;
  counters: ModeCounters;
  attribution: Attribution;
  verdict: Verdict;
  /** Why the verdict is what it is, in one or two sentences. */
  reason: string;
  /** Lost SYNs per 100 000 attempts that a run of this size could rule out (one-sided 95 %, zero observed: 3.0/n); null without attempts. */
  detectableRatePer100k: number | null;
  notes: string[];
  /** Merged connect-latency histogram (microseconds), hdr-histogram compressed base64, successful attempts only. */
  histogram: string;
  /** Event rates per 100 000 attempts with exact 95 % intervals (src/analysis/rates.ts); absent in older files. */
  rates?: RateEstimate[];
  /** tcp-syn --protocol http only: what the application saw and how many connects it opened. */
  http?: HttpModeFigures;
  /** vxlan only: the double-SNAT evidence of this mode (src/analysis/vxlanMode.ts). */
  vxlan?: VxlanEvidence;
  /** Raw TCP connects: how the client agents made them (native engine, libuv handles, net.Socket); absent in older files. */
  connectPath?: ConnectPath;
  /** dns --client raw: how the client agents sent their lookups; absent in older files and for other clients. */
  socketPath?: DnsSocketPath;
  /** tcp-syn, vxlan: the SYN retransmit schedule the bands and lost-SYN counts follow; absent in older files. */
  synSchedule?: SynSchedule;
  /** dns: the resolver timeout and attempts the bands follow; absent in older files. */
  resolver?: ResolverTiming;
  /** Docker backend: the host's background over an idle window after the load (absent on netns: the lab's NAT is its own). */
  background?: ModeBackground;
  /** tcp-syn with --capture on: the packet evidence of the mode's lost SYNs; absent when the capture was off. */
  evidence?: ModeEvidence;
  /** tcp-syn: which rule split the lost SYNs between causes (evidence: a complete capture; counters otherwise); absent in older files. */
  attributionRule?: 'evidence' | 'counters';
  /** tcp-syn: the phase this entry measured (burst: is the rule vulnerable; steady: how often a storm hits it); absent in older files. */
  load?: TcpSynLoad;
}

/**
 * `tcp-syn --protocol http`: attempts are requests; `latencyMs`, `histogram`, signatures and attribution stay
 * about the TCP connects the requests opened, these figures add what the application saw.
 */
export interface HttpModeFigures {
  keepalive: boolean;
  /** Whole-request latency of successful requests (connect included when the request opened one). */
  requestLatencyMs: LatencyMs;
  /** TCP connects opened: one per request without keep-alive; with it, only the pool's connections. */
  connects: { attempted: number; succeeded: number; failed: number };
  /** Merged request-latency histogram (microseconds), hdr compressed base64, successful requests only. */
  requestHistogram: string;
}

/**
 * What node A's own tables and the receiving side's counters show about one vxlan mode: whether the
 * encapsulated (outer) UDP flows were masqueraded a second time, and whether that cost packets.
 */
export interface VxlanEvidence {
  /** KUBE-POSTROUTING variant, MASQUERADE flag, and whether tx checksum offload was off on the vxlan devices. */
  rules: 'legacy' | 'patched';
  masqueradeFlag: MasqueradeMode;
  offloadOff: boolean;
  /** Outer VXLAN flows node A sent (its conntrack entries with its underlay address as original source). */
  outerFlows: number;
  /** Of those, flows whose reply tuple no longer points at the original source address/port: translated a second time. */
  outerFlowsRemapped: number;
  /** New outer flows that reached nat POSTROUTING still carrying the 0x4000 mark (a rule that only counts). */
  markedOuterFlows: number;
  /** First packets (new flows, inner and outer) that hit KUBE-POSTROUTING's MASQUERADE rule on node A. */
  masqueradeHits: number;
  /** One remapped outer conntrack entry as `conntrack -L` printed it, for the reader; null when none. */
  example: string | null;
  /** Checksum error counter deltas on the path: node B (outer UDP), pod B (inner TCP), node A (replies). */
  checksumErrors: Record<string, number>;
  doubleSnat: boolean;
  /** Checksum errors counted, or SYNs lost, in this mode. */
  drops: boolean;
}

/** A count of events in `attempts`, as a rate per 100 000 attempts with an exact (Poisson) two-sided 95 % interval. */
export interface RateEstimate {
  /**
   * stalls, stalls_1s, ..., race, unexplained, or a conntrack column (insert_failed, drop, clashres, ...);
   * vxlan: checksum (lost SYNs matched by checksum errors), double_snat (per outer flow), drops.
   */
  metric: string;
  description: string;
  count: number;
  attempts: number;
  per100k: number;
  lower: number;
  upper: number;
  /** 'clopper-pearson': a proportion (double_snat: of outer flows), its bounds at most 100 000; absent: Poisson. */
  interval?: 'clopper-pearson';
}

export type ComparisonVerdict = 'better' | 'worse' | 'no difference' | 'inconclusive';

/** One metric of a candidate mode against a baseline mode (or of a new run against an old one). */
export interface Comparison {
  baseline: string;
  candidate: string;
  metric: string;
  baselineCount: number;
  baselineAttempts: number;
  candidateCount: number;
  candidateAttempts: number;
  /**
   * Candidate rate / baseline rate with its exact 95 % interval (the inversion of the test behind pValue, so the
   * verdict is worse exactly when lower > 1 and better exactly when upper < 1); null = infinite or undefined.
   * When `measure` is 'odds ratio' (proportions such as vxlan's double_snat) this is the conditional odds ratio.
   */
  rateRatio: { estimate: number | null; lower: number; upper: number | null };
  /** What rateRatio measures; absent: the rate ratio. */
  measure?: 'odds ratio';
  /**
   * Two-sided p-value of the central exact test (twice the smaller tail): conditional binomial for counts of attempts,
   * Fisher's for proportions. 0 when below what a double holds (printed "p < 1e-300").
   */
  pValue: number;
  verdict: ComparisonVerdict;
  reason: string;
  /**
   * When inconclusive: attempts per mode at which a repeat run, with the rates observed here, settles the comparison
   * (better, worse or no difference) with probability `settlePower`; null otherwise, out of reach, or 0 vs 0.
   */
  attemptsToSettle: number | null;
  /** The probability attemptsToSettle aims for (0.8); absent in older files. */
  settlePower?: number;
  /** When more attempts cannot settle it (0 vs 0): what would; absent otherwise. */
  settleHint?: string;
  /** tcp-syn: the phase whose entries were compared (modes are compared within a phase only); absent in older files. */
  load?: TcpSynLoad;
}

/** /proc/net/stat/nf_conntrack or ctnetlink (`conntrack -S`). */
export type ConntrackStatsSource = 'procfs' | 'netlink';

/**
 * Where the upstream version of a kernel was read: Ubuntu's /proc/version_signature, the "Debian X.Y.Z-N" of
 * /proc/version, a Debian kernel package's version, or `uname -r` itself.
 */
export type KernelVersionSource = 'version-signature' | 'proc-version' | 'deb-package' | 'uname';

/** The upstream (kernel.org) version a kernel is built from, as far as the machine says it. */
export interface KernelVersion {
  /** "6.1.192" when exact; only "major.minor" ("4.18") when the sublevel is not known. */
  version: string;
  source: KernelVersionSource;
  /**
   * false when the sublevel is not known: distributions put a placeholder there (Debian's 6.1.0-57-amd64, Ubuntu's
   * 5.4.0-150-generic, RHEL's 4.18.0-553.el8_10), so changes that came to the series in a stable release are unknown.
   */
  exact: boolean;
}

export interface EnvironmentInfo {
  /** The kernel release as `uname -r` says it. */
  kernel: string;
  /** Its upstream version (a plain string in older files: `repro report`/`diff` read those as `uname -r`'s). */
  kernelVersion: KernelVersion;
  os: string;
  arch: string;
  cpus: number;
  iptables: { version: string; backend: string };
  conntrackSysctls: Record<string, string>;
  conntrackColumns: string[];
  /** Where the conntrack stats were read (REPRO_CONNTRACK_STATS or auto); none when neither source answered. Absent in older files. */
  conntrackStatsSource?: ConntrackStatsSource | 'none';
  node: string;
  harness: { name: string; version: string; commit: string | null };
  backend: BackendName;
  docker: { version: string } | null;
  /**
   * Where the NAT under test ran, with the iptables named above inside it: the netns backend's router namespace;
   * null: the host's own namespace (docker). Absent in older files (their netns runs NATed in the host).
   */
  natNamespace?: string | null;
  /** Set when the run was made inside a VM (`--kernel`): how it ran; the rest of the environment is the guest's. */
  vm?: VmInfo;
  /** /etc/os-release's PRETTY_NAME ("Debian GNU/Linux 12 (bookworm)"); null when unreadable; absent in older files. */
  distribution?: string | null;
  /** The machine's host name; absent with --redact and in older files. */
  hostname?: string;
  /** The Node.js versions this build supports (package.json engines), to say when `node` is outside them; absent in older files. */
  nodeEngines?: string;
}

/** How a VM run ran (src/vm): under emulation (tcg) rates and latencies are the emulator's, counters are the kernel's. */
export interface VmInfo {
  accel: 'kvm' | 'tcg';
  cpus: number;
  memoryMb: number;
  /** `debian:<package>=<version>`, `deb:<file>` or `file:<bzImage>`. */
  kernelSource: string;
  /** A packaged kernel's Package and Version (its .deb's control file), e.g. linux-image-5.10.0-46-amd64 5.10.262-1; absent for a bzImage and in older files. */
  kernelPackage?: { name: string; version: string };
  qemu: string;
}

export interface TcpSynConfig {
  backend: BackendName;
  modes: MasqueradeMode[];
  clients: number;
  workers: number;
  concurrency: number;
  connections: number;
  durationSec: number;
  portRange: [number, number];
  close: CloseMode;
  connectTimeoutMs: number;
  serverWorkers: number;
  serverPort: number;
  detectRatePer100k: number;
  /** tcp (bare connects) or http (requests through undici); absent in older files: tcp. */
  protocol?: TcpSynProtocol;
  /** http only: pooled keep-alive connections; absent in older files: false. */
  keepalive?: boolean;
  /**
   * steady: a connect storm (how often does a workload like this hit the race); burst: synchronized same-port
   * connects that provoke it (is this rule vulnerable, in seconds). Absent in older files: steady.
   */
  load?: TcpSynLoadChoice;
  /**
   * load both: the burst phase's own size (the fields above are the steady phase's); absent otherwise. With load
   * burst alone the fields above are the burst's.
   */
  burstPhase?: { clients: number; connections: number; detectRatePer100k: number };
  /** burst: the source ports the rounds take in turn (outside the clients' ephemeral range). */
  burstPorts?: [number, number];
  /** SYN capture on both sides of the NAT (--capture); absent in older files: off. */
  capture?: boolean;
  clientSubnet: string;
  serverSubnet: string;
}

export type TcpSynLoad = 'steady' | 'burst';
/** --load: both (the default: burst, then steady, into one result), or one phase alone. */
export type TcpSynLoadChoice = TcpSynLoad | 'both';

export interface SignatureTolerance {
  description: string;
  slowThresholdMs: number;
}

/** Configuration of scenarios other than tcp-syn: the backend and modes, plus their own options. */
export interface OtherScenarioConfig {
  backend: BackendName;
  modes: string[];
  [option: string]: unknown;
}

interface ResultBase {
  schema: typeof RESULT_SCHEMA;
  runId: string;
  startedAt: string;
  finishedAt: string;
  command: string;
  interrupted: boolean;
  environment: EnvironmentInfo;
  signatureBands: SignatureTolerance;
  modes: ModeResult[];
  verdict: Verdict;
  summary: string;
  /** Each later mode against the first, per metric (src/analysis/comparisons.ts); absent in older files. */
  comparisons?: Comparison[];
  /** Conditions of the host that change what the run means (src/analysis/hostWarnings.ts); absent in older files. */
  hostWarnings?: HostWarning[];
  /** tcp-syn: per mode, the answer to each question its phases asked (src/analysis/answers.ts); absent in older files. */
  answers?: ModeAnswer[];
  /** What the run's teardown could not undo, in words (the command then exits 1); absent when everything went. */
  teardownErrors?: string[];
}

/** A condition of the host said out loud in every rendering; `id` is stable for tools that key on it. */
export interface HostWarning {
  id: 'legacy-iptables' | 'no-insert-failed' | 'no-race-counter' | 'no-clashres' | 'conntrack-table-full' | 'conntrack-stats-unreadable';
  message: string;
}

/** A phase's figure for one mode: k of n attempts, its rate per 100 000 and 95 % interval, and the sentence told. */
export interface PhaseFigure {
  verdict: Verdict;
  /** Attempts that stalled on a race drop (attribution.raceStalled), and attempts made. */
  k: number;
  n: number;
  per100k: number;
  /** Two-sided exact 95 % interval per 100 000 (RateEstimate's). */
  interval: { lower: number; upper: number };
  /** With no race drop: the one-sided 95 % upper bound per 100 000 (the rule of three); absent otherwise. */
  ruledOutAbove?: number;
  sentence: string;
}

/** tcp-syn: what one MASQUERADE mode's phases answered (burst: is it vulnerable; steady: how often a storm hits it). */
export interface ModeAnswer {
  mode: string;
  vulnerable?: PhaseFigure;
  steady?: PhaseFigure;
}

/** result.json. `scenario` tells which `config` it carries. */
export type ResultFile =
  | (ResultBase & { scenario: 'tcp-syn'; config: TcpSynConfig })
  | (ResultBase & { scenario: Exclude<ScenarioName, 'tcp-syn'>; config: OtherScenarioConfig });

/** One SYN (no ACK) a capture saw, on one interface in one direction (src/host/capture.ts). */
export interface CapturedSyn {
  /** The packet's timestamp, microseconds since the epoch (tcpdump -tt; exact in a double). */
  tUs: number;
  iface: string;
  /** Linux cooked capture's packet type: In (received), Out (sent), or another (B, M, P). */
  direction: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  seq: number;
}

/** The other SYN a lost one collided with: another client's SYN translated to the outer tuple the lost one needed. */
export interface EvidenceCollision {
  client: string;
  sport: number;
  /** Its source after the NAT, "ip:port". */
  translated: string;
  /** How long before the lost SYN it was seen translated (µs; negative: after it). */
  dtUs: number;
}

/** One SYN transmission seen before the NAT and never after it. */
export interface EvidenceRecord {
  client: string;
  sport: number;
  seq: number;
  /** When it was seen before the NAT, ms from the mode's load start. */
  atMs: number;
  /** Whether a retransmit of the same SYN (same seq) later passed the NAT. */
  reachedServer: boolean;
  collision: EvidenceCollision | null;
}

/** tcp-syn: SYNs captured on both sides of the NAT during a mode, matched by client, source port and seq. */
export interface ModeEvidence {
  /** SYN transmissions seen before the NAT (copies of one packet on several interfaces counted once). */
  captured: number;
  /** Packets the kernel dropped from the capture (tcpdump's "dropped by kernel"): non-zero makes the evidence incomplete. */
  capturedDrops: number;
  /** SYN transmissions seen before the NAT and never after it. */
  lostSyns: number;
  /** Of those, how many had a collision: another SYN translated to the same outer tuple. */
  collisions: number;
  /**
   * False with randomized ports (--random, --random-fully): the outer tuple a lost SYN drew is not on the wire, so no
   * collision is named and the counters decide the attribution. Absent in older files.
   */
  tupleKnown?: boolean;
  /** The first 100 lost SYNs, in time order. */
  records: EvidenceRecord[];
  recordsOmitted: number;
}
