import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseConntrackFlows, type ConntrackFlow } from '../../host/conntrackFlows.js';
import { run } from '../../host/exec.js';

/**
 * The partner of a race drop: the confirmed entry that holds the translated tuple the dropped one wanted. Found over
 * ctnetlink in the drop's namespace, two ways: the NEW events of the namespaces traced (an entry may be gone by the
 * time a lookup asks: a SYN answered by a RST ends its entry at once), and a `conntrack -L` filtered on the reply
 * tuple. Read only: listening and listing change nothing.
 */
export const replyKey = (proto: string, r: { src: string; sport: number | null; dst: string; dport: number | null }): string =>
  `${proto} ${r.src}:${r.sport ?? ''}>${r.dst}:${r.dport ?? ''}`;

/** One event line of `conntrack -E` ("[NEW] tcp 6 120 SYN_SENT src=..."), the flow it announces. */
export function parseEventLine(line: string): ConntrackFlow | null {
  const m = /^\s*(?:\[\d+\.\d+\]\s*)?\[NEW\]\s*(.*)$/.exec(line);
  return m?.[1] ? (parseConntrackFlows(m[1])[0] ?? null) : null;
}

const SELF = '/proc/self/ns/net';

/** conntrack in a namespace: straight for our own (setns would need CAP_SYS_ADMIN), through nsenter for another. */
const inNetns = (netnsPath: string, args: string[]): [string, string[]] =>
  netnsPath === SELF ? ['conntrack', args] : ['nsenter', ['--net=' + netnsPath, 'conntrack', ...args]];

const KEEP_MS = 5000;
const MAX_REMEMBERED = 200_000;

interface Seen {
  flow: ConntrackFlow;
  at: number;
}

/** NEW events of one namespace, remembered for a few seconds by reply tuple. */
export class EventListener {
  private readonly recent = new Map<string, Seen>();
  private child: ChildProcess | null = null;
  lost = 0;

  get pid(): number | undefined {
    return this.child?.pid;
  }
  private waiters: (() => void)[] = [];

  constructor(
    readonly netnsPath: string,
    private readonly warn: (line: string) => void,
  ) {}

  start(): void {
    // -b: a larger socket buffer, so that a burst of NEW events is not lost (ENOBUFS is counted when it is).
    // --any-nat: the kernel filters the events to NAT-ed entries (a partner always is one), so a busy node's other
    // flows do not fill the socket buffer.
    const [cmd, args] = inNetns(this.netnsPath, ['-E', '-e', 'NEW', '--any-nat', '-b', '16777216']);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const flow = parseEventLine(line);
      if (!flow) return;
      const now = Date.now();
      if (this.recent.size >= MAX_REMEMBERED) this.expire(now);
      this.recent.set(replyKey(flow.proto, flow.reply), { flow, at: now });
      const w = this.waiters;
      this.waiters = [];
      for (const wake of w) wake();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (/No buffer space/i.test(line)) this.lost++;
      else if (!/flow events have been shown|NOTICE: Netlink socket buffer size has been set/.test(line)) this.warn(`conntrack -E (${this.netnsPath}): ${line}`);
    });
    child.on('error', (err) => this.warn(`conntrack -E (${this.netnsPath}): ${err.message}`));
  }

  private expire(now: number): void {
    for (const [k, v] of this.recent) {
      if (now - v.at <= KEEP_MS && this.recent.size < MAX_REMEMBERED) break;
      this.recent.delete(k);
    }
  }

  find(key: string): ConntrackFlow | null {
    return this.recent.get(key)?.flow ?? null;
  }

  /** Resolves at the next event or after ms, whichever is first. */
  nextEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    });
  }
}

/** `conntrack -L` in the namespace, filtered on the reply tuple (and filtered again here: the filter is the kernel's). */
export async function lookupByReply(netnsPath: string, proto: string, reply: { src: string; sport: number; dst: string; dport: number }): Promise<ConntrackFlow | null> {
  const filter = ['-L', '-p', proto, '--reply-src', reply.src, '--reply-dst', reply.dst];
  if (proto === 'tcp' || proto === 'udp') filter.push('--reply-port-src', String(reply.sport), '--reply-port-dst', String(reply.dport));
  const [cmd, args] = inNetns(netnsPath, filter);
  const r = await run(cmd, args, { check: false, timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`conntrack -L in ${netnsPath}: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`);
  const key = replyKey(proto, reply);
  return parseConntrackFlows(r.stdout).find((f) => replyKey(f.proto, f.reply) === key) ?? null;
}
