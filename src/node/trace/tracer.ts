import { spawn, type ChildProcess } from 'node:child_process';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { PrerequisiteError, errorMessage } from '../../errors.js';
import { conntrackDelta, readConntrackStatIn, type ConntrackStat } from '../../host/conntrackStat.js';
import { CommandNotFoundError, netnsLabel, run, type NetnsRef } from '../../host/exec.js';
import { OwnerIndex } from './owners.js';
import { EventListener, lookupByReply, replyKey } from './partners.js';
import { bpftraceProgram, confirmCandidate, formatHasReason, HOOK_NAMES, HOOKS, netfilterDropReason, parseDropLine, READY_LINE, symbolRange, type DropLine, type HookId, type ProgramInput } from './program.js';
import { intervalCheck, makeRecord, protocolName, type TraceRecord } from './records.js';
import { recordTracer } from './tracerState.js';
import { waitScale } from '../../runner/agentConnection.js';

const TRACEFS = '/sys/kernel/tracing';
/** Partner lookups at once; a drop beyond them is recorded without one (and the interval check says so). */
const MAX_INFLIGHT = 64;
const KFREE_SKB_FORMAT = `${TRACEFS}/events/skb/kfree_skb/format`;

/** The hooks this kernel may allow, best first, each with what its program needs; why the others are out. */
export async function hookCandidates(only?: HookId): Promise<{ usable: ProgramInput[]; refused: string[] }> {
  const refused: string[] = [];
  const usable: Omit<ProgramInput, 'netnsInodes'>[] = [];
  const btf = await access('/sys/kernel/btf/vmlinux').then(() => true, () => false);
  if (!btf) refused.push('no BTF (/sys/kernel/btf/vmlinux): the entry cannot be read on any hook');
  const kallsyms = await readFile('/proc/kallsyms', 'utf8').catch(() => '');
  const hasConfirm = /\s__nf_conntrack_confirm(\s|$)/m.test(kallsyms);
  // fentry/fexit attach through ftrace: the function must be in its list (this needs CONFIG_FUNCTION_TRACER and a list the kernel shows).
  const ftrace = await readFile(`${TRACEFS}/available_filter_functions`, 'utf8').then((t) => /^__nf_conntrack_confirm\b/m.test(t), (err: NodeJS.ErrnoException) => err.code ?? 'unreadable');
  if (ftrace === true) usable.push({ hook: 'fexit' });
  else refused.push(`fexit: __nf_conntrack_confirm not in ftrace's function list (${ftrace === false ? 'absent' : ftrace})`);
  const kprobes = await access(`${TRACEFS}/kprobe_events`).then(() => true, () => false);
  if (kprobes && hasConfirm) usable.push({ hook: 'kretprobe' });
  else refused.push(`kretprobe: ${kprobes ? '__nf_conntrack_confirm not in /proc/kallsyms (nf_conntrack not loaded?)' : 'no kprobes on this kernel (CONFIG_KPROBES)'}`);
  const format = await readFile(KFREE_SKB_FORMAT, 'utf8').catch(() => '');
  const reason = netfilterDropReason(format);
  if (reason !== null) usable.push({ hook: 'kfree_skb-reason', netfilterDropReason: reason });
  else refused.push(`kfree_skb-reason: ${format === '' ? 'no skb:kfree_skb tracepoint' : formatHasReason(format) ? 'no NETFILTER_DROP reason' : 'no drop reason (before 5.17)'}`);
  const range = symbolRange(kallsyms, 'nf_hook_slow');
  if (format !== '' && range) usable.push({ hook: 'kfree_skb-location', nfHookSlow: range });
  else refused.push('kfree_skb-location: nf_hook_slow\'s address not readable');
  const picked = only ? usable.filter((u) => u.hook === only) : usable;
  return { usable: btf ? (picked as ProgramInput[]) : [], refused };
}

/** tracefs holds the tracepoints' formats; a node may not have it mounted (the pod mounts the host's). */
export async function ensureTracefs(note: (l: string) => void): Promise<void> {
  const present = await readdir(TRACEFS).then((l) => l.length > 0, () => false);
  if (present) return;
  await run('mount', ['-t', 'tracefs', 'nodev', TRACEFS]).catch((err: unknown) => {
    throw new PrerequisiteError(`tracefs is not mounted at ${TRACEFS} and mounting it failed (${errorMessage(err)}): mount -t tracefs nodev ${TRACEFS}`);
  });
  note(`mounted tracefs at ${TRACEFS}`);
}

export interface TraceOptions {
  /** The namespaces whose drops are traced and whose insert_failed is checked; [] = every namespace (checked: host). */
  targets: NetnsRef[];
  intervalSec: number;
  hook?: HookId;
  onRecord: (r: TraceRecord) => void;
  /** Interval checks and notes (the terminal shows them; --json sends them to stderr). */
  note: (line: string) => void;
}

interface Checked {
  ns: NetnsRef;
  label: string;
  inode: number;
  prev: ConntrackStat;
  /** Kernel times of the insert-race records and of the unexplained confirm drops not yet checked. */
  races: bigint[];
  unmatched: bigint[];
}

/**
 * Which race records belong to a reading taken between t0 and t1 (pure): every one before t0, and of those inside the
 * window as many as the counter's delta asks for (earliest first). The rest wait for the next reading.
 */
export function reconcile(times: readonly bigint[], t0: bigint, t1: bigint, failed: number): { counted: number; rest: bigint[] } {
  const sorted = [...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sure = sorted.filter((t) => t <= t0).length;
  const maybe = sorted.filter((t) => t > t0 && t <= t1).length;
  const take = sure + Math.max(0, Math.min(maybe, failed - sure));
  return { counted: take, rest: sorted.slice(take) };
}

/** `repro trace`: bpftrace on the best hook, one record per conntrack drop, checked against insert_failed. Read only. */
export class Tracer {
  hook: HookId | null = null;
  private child: ChildProcess | null = null;
  private forget: (() => Promise<void>) | null = null;
  private readonly owners: OwnerIndex;
  private readonly listeners = new Map<number, EventListener>();
  private readonly checked: Checked[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Drops whose partner lookup is under way; each is handled on its own (a lookup may wait ~300 ms). */
  private readonly inflight = new Set<Promise<void>>();
  /** Drops recorded without a partner lookup because too many were in flight, per interval. */
  private skippedLookups = 0;
  private lostLines = 0;
  private stopping = false;
  /** Resolves when bpftrace ends; a message when it ended by itself. */
  ended: Promise<string | null> = Promise.resolve(null);
  readonly counts = { records: 0, races: 0 };

  constructor(private readonly o: TraceOptions) {
    this.owners = new OwnerIndex(o.note);
  }

  private async inodeOf(ns: NetnsRef): Promise<number> {
    const path = ns.kind === 'host' ? '/proc/self/ns/net' : ns.kind === 'netns' ? `/run/netns/${ns.name}` : `/proc/${ns.pid}/ns/net`;
    return (await stat(path)).ino;
  }

  private pathOf(ns: NetnsRef): string {
    return ns.kind === 'host' ? '/proc/self/ns/net' : ns.kind === 'netns' ? `/run/netns/${ns.name}` : `/proc/${ns.pid}/ns/net`;
  }

  async start(): Promise<void> {
    try {
      await run('bpftrace', ['--version'], { timeoutMs: 10_000 });
    } catch (err) {
      if (err instanceof CommandNotFoundError) throw new PrerequisiteError('bpftrace is not installed: apt-get install bpftrace (repro trace runs it as root)');
      throw err;
    }
    await ensureTracefs(this.o.note);
    await this.owners.init();
    const targets = this.o.targets;
    const inodes = await Promise.all(targets.map((t) => this.inodeOf(t)));
    const checkedTargets = targets.length > 0 ? targets : [{ kind: 'host' } as NetnsRef];
    for (const ns of checkedTargets) {
      const inode = await this.inodeOf(ns);
      const r = await readConntrackStatIn(ns);
      this.checked.push({ ns, label: netnsLabel(ns), inode, prev: r.stat, races: [], unmatched: [] });
      const l = new EventListener(this.pathOf(ns), this.o.note);
      l.start();
      this.listeners.set(inode, l);
    }
    const { usable, refused } = await hookCandidates(this.o.hook);
    const failures: string[] = [...refused];
    for (const cand of usable) {
      const err = await this.attach({ ...cand, netnsInodes: inodes });
      if (err === null) {
        this.hook = cand.hook;
        break;
      }
      failures.push(`${cand.hook}: ${err}`);
    }
    if (this.hook === null) {
      await Promise.all([...this.listeners.values()].map((l) => l.stop()));
      throw new PrerequisiteError(`no hook for conntrack drops on this kernel: ${failures.join('; ')}`);
    }
    this.o.note(`tracing conntrack drops on ${HOOK_NAMES[this.hook]}${targets.length ? ` in ${targets.map(netnsLabel).join(', ')}` : ' in every namespace'}; insert_failed checked every ${this.o.intervalSec} s in ${this.checked.map((c) => c.label).join(', ')}`);
    this.schedule();
  }

  /** bpftrace with one hook's program; null once it says every probe is attached, else why it failed. */
  private attach(p: ProgramInput): Promise<string | null> {
    const child = spawn('bpftrace', ['-B', 'line', '-e', bpftraceProgram(p)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    return new Promise((resolve) => {
      let ready = false;
      const closed = new Promise<string | null>((res) => child.on('close', (code, signal) => res(this.stopping ? null : `bpftrace ended (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`)));
      child.on('error', (err) => resolve(err.message));
      createInterface({ input: child.stderr! }).on('line', (line) => {
        stderr += line + '\n';
        if (ready && !/RLIMIT_MEMLOCK/.test(line)) this.o.note(`bpftrace: ${line}`);
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!ready) {
          if (line.trim() !== READY_LINE) return; // "Attaching N probes..."
          ready = true;
          this.child = child;
          this.ended = closed;
          void recordTracer([child.pid ?? 0, ...[...this.listeners.values()].flatMap((l) => (l.pid ? [l.pid] : []))]).then(
            (forget) => {
              this.forget = forget;
              resolve(null);
            },
            (err: unknown) => resolve(errorMessage(err)),
          );
          return;
        }
        const lost = /^Lost (\d+) events/.exec(line);
        if (lost) {
          this.lostLines += Number(lost[1]);
          return;
        }
        const d = parseDropLine(line);
        if (!d) return;
        const p = this.onDrop(d, this.inflight.size < MAX_INFLIGHT).catch((err: unknown) => this.o.note(`! trace: ${errorMessage(err)}`));
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      });
      void closed.then((why) => {
        if (!ready) resolve(why ?? 'stopped');
      });
    });
  }

  /** Partner: the namespace's NEW events first, then a lookup, then the events again for a moment (they arrive late). */
  private async partnerOf(d: DropLine, proto: string): Promise<ReturnType<EventListener['find']>> {
    const key = replyKey(proto, d.reply);
    const listener = this.listeners.get(d.netnsInode);
    const path = listener?.netnsPath ?? this.owners.netnsPaths.get(d.netnsInode);
    const fromEvents = listener?.find(key) ?? null;
    if (fromEvents) return fromEvents;
    if (path) {
      const found = await lookupByReply(path, proto, d.reply).catch((err: unknown) => {
        this.o.note(`partner lookup: ${errorMessage(err)}`);
        return null;
      });
      if (found) return found;
    }
    if (!listener) return null;
    // Under CPU emulation (a --kernel guest on TCG: REPRO_WAIT_SCALE) the listener's events come that much later.
    const until = Date.now() + 300 * waitScale();
    while (Date.now() < until) {
      await listener.nextEvent(until - Date.now());
      const f = listener.find(key);
      if (f) return f;
    }
    return null;
  }

  private async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private async onDrop(d: DropLine, mayLookUp: boolean): Promise<void> {
    const at = new Date();
    const proto = protocolName(d.protocol);
    // Only a possible failed confirm has a partner to look for; a rule's drop is known for what it is.
    const candidate = confirmCandidate(this.hook ?? 'kfree_skb-reason', d.status);
    if (candidate && !mayLookUp) this.skippedLookups++;
    const partner = candidate && mayLookUp ? await this.partnerOf(d, proto) : null;
    let client = this.owners.ofAddress(d.original.src);
    let partnerClient = partner ? this.owners.ofAddress(partner.original.src) : null;
    if (!client || (partner && !partnerClient)) {
      await this.owners.refreshSoon().catch((err: unknown) => this.o.note(`owners: ${errorMessage(err)}`));
      client = this.owners.ofAddress(d.original.src);
      partnerClient = partner ? this.owners.ofAddress(partner.original.src) : null;
    }
    const netns = this.owners.ofNetns(d.netnsInode).id;
    const r = makeRecord(at, this.hook ?? 'kfree_skb-reason', netns, d, partner, client, partnerClient);
    this.counts.records++;
    const c = this.checked.find((x) => x.inode === d.netnsInode);
    if (r.kind === 'insert-race') {
      this.counts.races++;
      c?.races.push(d.ktimeNs);
    } else if (r.kind !== 'netfilter-drop') c?.unmatched.push(d.ktimeNs);
    this.o.onRecord(r);
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => void this.check().finally(() => this.schedule()), this.o.intervalSec * 1000);
  }

  /** The interval check: each checked namespace's insert-race records against its insert_failed delta. */
  async check(): Promise<void> {
    // Each namespace's counters are read between t0 and t1; its records (bpftrace's lines and the partner lookups
    // come a little later) are counted by the drop's kernel time, the clock of hrtime. A drop inside [t0, t1] may be
    // on either side of the reading: as many of those as the counter needs are counted in.
    const read = async (c: Checked): Promise<{ stat: ConntrackStat | string; t0: bigint; t1: bigint }> => {
      const t0 = process.hrtime.bigint();
      const stat = await readConntrackStatIn(c.ns).then((r) => r.stat, (err: unknown) => errorMessage(err));
      return { stat, t0, t1: process.hrtime.bigint() };
    };
    const readings = await Promise.all(this.checked.map(read));
    await new Promise((r) => setTimeout(r, 250));
    await this.settled();
    this.checked.forEach((c, i) => {
      const reading = readings[i];
      if (!reading || typeof reading.stat === 'string') {
        this.o.note(`! ${c.label}: ${reading?.stat ?? 'no reading'}`);
        return;
      }
      const { stat, t0, t1 } = reading;
      const delta = conntrackDelta(c.prev, stat);
      const { counted, rest } = reconcile(c.races, t0, t1, delta['insert_failed'] ?? 0);
      c.races = rest;
      const unmatched = c.unmatched.filter((t) => t <= t1).length;
      c.unmatched = c.unmatched.filter((t) => t > t1);
      const lost = this.lostLines + this.skippedLookups + (this.listeners.get(c.inode)?.lost ?? 0);
      const line = intervalCheck(c.label, counted, delta, lost, unmatched);
      if (line) this.o.note(line);
      if ((delta['clashres'] ?? 0) > 0) this.o.note(`${c.label}: clashres +${delta['clashres']}: clashes the kernel resolved (no drop)`);
      c.prev = stat;
    });
    this.lostLines = 0;
    this.skippedLookups = 0;
    for (const l of this.listeners.values()) l.lost = 0;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      child.kill('SIGINT');
      await closed;
    }
    await this.settled();
    await this.check();
    await Promise.all([...this.listeners.values()].map((l) => l.stop()));
    await this.forget?.();
  }
}
