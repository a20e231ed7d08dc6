import { Counter, Gauge, Registry, type OpenMetricsContentType } from 'prom-client';
import { UserError, errorMessage } from '../../errors.js';
import { assessKernel, type FixAssessment } from '../../analysis/kernelFixes.js';
import { conntrackDelta, readConntrackStatIn, type ConntrackStat, type ConntrackStatsSource } from '../../host/conntrackStat.js';
import { readKernelVersion } from '../../host/environment.js';
import { netnsLabel, readFileIn, type NetnsRef } from '../../host/exec.js';
import { serveMetrics, type MetricsServer } from './metricsServer.js';
import { recordLine, type TraceRecord } from '../trace/records.js';
import { Tracer } from '../trace/tracer.js';

/** The counters each line shows; every counter the kernel has goes to the metrics. */
export const LINE_COUNTERS = ['insert_failed', 'drop', 'clashres', 'early_drop'] as const;

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * --prometheus HOST:PORT (IPv6 in brackets), or :PORT for every address (host ''), as node_exporter's
 * --web.listen-address; port 0 lets the kernel pick (the address is printed).
 */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([\w.-]+))?:(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new UserError(`--prometheus "${text}": expected HOST:PORT or :PORT (every address), e.g. 127.0.0.1:9477 or :9477`);
  return { host: m[1] ?? m[2] ?? '', port };
}

/** A terminal line fits this many columns (a log line of a DaemonSet, a split pane). */
export const LINE_WIDTH = 100;

/**
 * One terminal line: the deltas of the line counters over the interval (said once at the start, as the stats
 * source; --json has both and the seconds of each interval), and the table's fill; within LINE_WIDTH columns: the
 * table's limit gives way first, then the label is shortened. Pure.
 */
export function watchLine(at: Date, netns: string, delta: Record<string, number>, entries: number | null, limit: number | null): string {
  const time = at.toTimeString().slice(0, 8);
  const counters = LINE_COUNTERS.filter((c) => c in delta)
    .map((c) => `${c} +${delta[c] ?? 0}`)
    .join(' ');
  const full = `${time} ${netns} ${counters} entries ${entries ?? '?'}/${limit ?? '?'}`;
  if (full.length <= LINE_WIDTH) return full;
  const fill = `entries ${entries ?? '?'}`;
  const room = Math.max(4, LINE_WIDTH - `${time}  ${counters} ${fill}`.length);
  return `${time} ${netns.length > room ? `${netns.slice(0, room - 1)}…` : netns} ${counters} ${fill}`.slice(0, LINE_WIDTH);
}

/** Whether an interval moved any of the line counters (--changes-only prints only those). Pure. */
export function lineCountersMoved(delta: Record<string, number>): boolean {
  return LINE_COUNTERS.some((c) => (delta[c] ?? 0) !== 0);
}

/**
 * The reading printed when insert_failed moves: which races it can be on this kernel, and what to run next. Pure.
 * chaintoolong also counts in insert_failed (nf_conntrack_core.c), so its share is named apart.
 */
export function insertFailedReading(netns: string, delta: Record<string, number>, columns: readonly string[], kernel: readonly FixAssessment[]): string | null {
  const n = delta['insert_failed'] ?? 0;
  if (n <= 0) return null;
  const parts: string[] = [];
  const chain = delta['chainlength'] ?? 0;
  if (chain > 0) parts.push(`${chain} of them from hash chains over 64 entries (a table too full for its buckets, not the race)`);
  if ((delta['early_drop'] ?? 0) > 0) parts.push(`early_drop +${delta['early_drop']}: the table is full, which drops too`);
  const dnsOpen = kernel.filter((k) => k.race === 'dns' && k.status !== 'present');
  const udp = dnsOpen.length === 0 ? 'UDP clashes this kernel resolves show as clashres instead, so a UDP one is a case its clash resolution does not cover' : `a UDP one is the DNS A/AAAA race, which this kernel does not fully resolve (${dnsOpen.map((k) => `${k.status === 'absent' ? 'lacks' : 'may lack'} ${k.id}`).join(', ')})`;
  const resolved = columns.includes('clashres') ? 'unresolved clashes only' : 'no clashres column: this count may include clashes the kernel resolved';
  parts.unshift(`${resolved}; TCP has no clash resolution, so a TCP one is the SNAT port race (two connections given one translated tuple, the second SYN dropped: a 1 s stall); ${udp}`);
  const where = netns === 'host' ? '' : netns.startsWith('pid:') ? ` --pid ${netns.slice(4)}` : netns.startsWith('container:') ? ` --container ${netns.slice(10)}` : ` --netns ${netns}`;
  return `! ${netns}: insert_failed +${n}: ${parts.join('; ')}. Next: repro audit${where}; repro tcp-syn --load burst (a lab run) to see whether these rules race`;
}

function openMetricsRegistry(): Registry<OpenMetricsContentType> {
  const r = new Registry<OpenMetricsContentType>();
  r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return r;
}

interface TargetState {
  ns: NetnsRef;
  label: string;
  prev: ConntrackStat;
  prevAt: number;
  source: ConntrackStatsSource;
  /** Per counter, the sum of every delta since watch started. */
  sinceStart: Record<string, number>;
}

export interface WatchOptions {
  targets: NetnsRef[];
  intervalSec: number;
  prometheus: ListenAddress | null;
  /** --trace: each conntrack drop from eBPF (repro trace), counted per pod in repro_conntrack_drops_total. */
  trace?: boolean;
  /** Stop after this many intervals (as `vmstat 2 5`); null: until stopped. */
  count?: number | null;
  /** Print only intervals that moved a line counter. */
  changesOnly?: boolean;
  /** One JSON object a line (NDJSON) on out instead of the terminal lines. */
  json?: boolean;
  /** The harness version, for repro_build_info. */
  version?: string;
  out: (line: string) => void;
  err: (line: string) => void;
}

const HELP: Record<string, string> = {
  insert_failed: 'new conntrack entries that lost a clash at confirm time (the SNAT port race, unresolved UDP clashes, chains too long)',
  drop: 'packets conntrack dropped',
  clashres: 'clashes the kernel resolved',
  early_drop: 'entries evicted because the table was full',
};

/** `repro watch`: reads the counters every interval, prints the deltas, serves them as OpenMetrics. Read only. */
export class Watch {
  private readonly states: TargetState[] = [];
  private readonly registry = openMetricsRegistry();
  private readonly counters = new Map<string, Counter>();
  private readonly entries = new Gauge({ name: 'repro_conntrack_entries', help: 'conntrack entries in the table', labelNames: ['netns'], registers: [this.registry] });
  private readonly limit = new Gauge({ name: 'repro_conntrack_entries_limit', help: 'net.netfilter.nf_conntrack_max', labelNames: ['netns'], registers: [this.registry] });
  private readonly sourceInfo = new Gauge({ name: 'repro_conntrack_stats_source', help: 'where the stats are read: procfs or netlink (1 for the source in use)', labelNames: ['netns', 'source'], registers: [this.registry] });
  /** 1 while the last read of a target failed: its counters are then stale, not zero. */
  private readonly readError = new Gauge({ name: 'repro_conntrack_read_error', help: 'whether the last read of the conntrack stats failed (1) or not (0); the counters keep their last value meanwhile', labelNames: ['netns'], registers: [this.registry] });
  private readonly buildInfo = new Gauge({ name: 'repro_build_info', help: 'the repro version and Node.js that serve these metrics (always 1)', labelNames: ['version', 'nodejs'], registers: [this.registry] });
  private intervals = 0;
  private finish: () => void = () => undefined;
  /** Resolves once --count intervals are printed. */
  readonly finished = new Promise<void>((resolve) => (this.finish = resolve));
  /** The kernel's known changes, from its upstream version (read in start(): /proc/version, not only uname -r). */
  private kernel: FixAssessment[] = [];
  private readonly drops = new Counter({
    name: 'repro_conntrack_drops_total',
    help: 'conntrack drops traced (watch --trace), by the pod they hit and their kind (insert-race, netfilter-drop, confirm-failed)',
    labelNames: ['netns', 'namespace', 'pod', 'container', 'kind', 'protocol'],
    registers: [],
  });
  private tracer: Tracer | null = null;
  private server: MetricsServer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: WatchOptions) {
    this.buildInfo.set({ version: o.version ?? 'unknown', nodejs: process.version }, 1);
  }

  private counter(column: string): Counter {
    let c = this.counters.get(column);
    if (!c) {
      c = new Counter({ name: `repro_conntrack_${column}_total`, help: HELP[column] ?? `conntrack stat ${column}, summed over CPUs`, labelNames: ['netns'], registers: [this.registry] });
      this.counters.set(column, c);
    }
    return c;
  }

  private async limitOf(ns: NetnsRef): Promise<number | null> {
    const v = await readFileIn(ns, '/proc/sys/net/netfilter/nf_conntrack_max').catch(() => '');
    return /^\d+$/.test(v.trim()) ? Number(v.trim()) : null;
  }

  /** First read of every target; one that cannot be read is a one-line error before anything starts. Returns the address served. */
  async start(): Promise<string | null> {
    // Said only once everything is up, so that a failure is the one line printed.
    const notes: string[] = [];
    this.kernel = assessKernel(await readKernelVersion());
    for (const ns of this.o.targets) {
      const label = netnsLabel(ns);
      const r = await readConntrackStatIn(ns).catch((err: unknown) => {
        throw new UserError(errorMessage(err));
      });
      const state: TargetState = { ns, label, prev: r.stat, prevAt: Date.now(), source: r.source, sinceStart: {} };
      this.states.push(state);
      // The counters start at the kernel's own totals since boot, so a scrape shows what conntrack -S shows.
      for (const col of r.stat.columns) if (col !== 'entries') this.counter(col).inc({ netns: label }, r.stat.rows.reduce((s, row) => s + (row[col] ?? 0), 0));
      this.gauges(state, r.stat, await this.limitOf(ns));
      this.readError.set({ netns: label }, 0);
      notes.push(`watching ${label}: conntrack stats over ${r.source}${r.procfsError ? ` (procfs: ${r.procfsError})` : ''}, every ${this.o.intervalSec} s`);
    }
    if (this.o.trace) await this.startTrace();
    const address = this.o.prometheus ? await this.listen(this.o.prometheus) : null;
    for (const n of notes) this.o.err(n);
    if (address) this.o.err(`metrics on http://${address}/metrics (OpenMetrics)`);
    this.schedule();
    return address;
  }

  private async startTrace(): Promise<void> {
    this.registry.registerMetric(this.drops);
    const count = (r: TraceRecord): void => {
      const c = r.client;
      this.drops.inc({ netns: r.netns.replace(/^netns:/, ''), namespace: c?.namespace ?? '', pod: c?.pod ?? '', container: c?.container ?? '', kind: r.kind, protocol: r.protocol });
      // With --json every line is one JSON object: the record as repro trace --json prints it, typed beside the intervals.
      this.o.out(this.o.json ? JSON.stringify({ type: 'drop', ...r }) : recordLine(r));
    };
    this.tracer = new Tracer({ targets: this.o.targets, intervalSec: this.o.intervalSec, onRecord: count, note: (l) => (l.startsWith('!') && !this.o.json ? this.o.out(l) : this.o.err(l)) });
    await this.tracer.start();
    void this.tracer.ended.then((why) => why && this.o.err(`! trace: ${why}`));
  }

  private gauges(s: TargetState, stat: ConntrackStat, limit: number | null): void {
    const entries = stat.rows[0]?.['entries'];
    if (entries !== undefined) this.entries.set({ netns: s.label }, entries);
    if (limit !== null) this.limit.set({ netns: s.label }, limit);
    this.sourceInfo.set({ netns: s.label, source: s.source }, 1);
  }

  private async listen(addr: ListenAddress): Promise<string> {
    this.server = await serveMetrics(addr, this.registry);
    return this.server.address;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.o.count != null && this.intervals >= this.o.count) {
      this.finish();
      return;
    }
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.schedule());
    }, this.o.intervalSec * 1000);
  }

  /** One interval: every target read again, its deltas printed and added to the metrics. */
  async tick(): Promise<void> {
    this.intervals++;
    await Promise.all(
      this.states.map(async (s) => {
        let stat: ConntrackStat;
        let limit: number | null;
        try {
          const r = await readConntrackStatIn(s.ns, s.source);
          [stat, limit] = [r.stat, await this.limitOf(s.ns)];
        } catch (err) {
          this.readError.set({ netns: s.label }, 1);
          this.o.err(`! ${s.label}: ${errorMessage(err)}`);
          return;
        }
        this.readError.set({ netns: s.label }, 0);
        const now = Date.now();
        const delta = conntrackDelta(s.prev, stat);
        for (const [col, d] of Object.entries(delta)) {
          if (col === 'entries') continue;
          this.counter(col).inc({ netns: s.label }, d);
          s.sinceStart[col] = (s.sinceStart[col] ?? 0) + d;
        }
        this.gauges(s, stat, limit);
        const seconds = Math.max(0.001, (now - s.prevAt) / 1000);
        const reading = insertFailedReading(s.label, delta, stat.columns, this.kernel);
        const entries = stat.rows[0]?.['entries'] ?? null;
        if (this.o.json) {
          const counters = Object.fromEntries(Object.entries(delta).filter(([c]) => c !== 'entries'));
          this.o.out(JSON.stringify({ type: 'interval', time: new Date(now).toISOString(), netns: s.label, seconds, delta: counters, entries, limit, source: s.source, ...(reading ? { reading } : {}) }));
        } else if (!this.o.changesOnly || lineCountersMoved(delta)) {
          this.o.out(watchLine(new Date(now), s.label, delta, entries, limit));
          if (reading) this.o.out(reading);
        }
        s.prev = stat;
        s.prevAt = now;
      }),
    );
  }

  /** Stop after the interval in progress, close the endpoint, print what changed since the start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await this.tracer?.stop();
    await this.server?.close();
    for (const s of this.states) {
      const shown = LINE_COUNTERS.filter((c) => s.prev.columns.includes(c));
      if (this.o.json) {
        this.o.out(JSON.stringify({ type: 'total', netns: s.label, intervals: this.intervals, delta: Object.fromEntries(shown.map((c) => [c, s.sinceStart[c] ?? 0])) }));
        continue;
      }
      this.o.out(`${s.label}: since the start ${shown.map((c) => `${c} +${s.sinceStart[c] ?? 0}`).join('  ')}`);
    }
  }
}
