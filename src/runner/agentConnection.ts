import type { Readable, Writable } from 'node:stream';
import { signalNote } from '../exitCodes.js';
import { parseEvent, type AgentEvent } from '../agents/common/protocol.js';

/**
 * REPRO_WAIT_SCALE multiplies the runner's waits for its agents' events: under CPU emulation (a `--kernel` VM on
 * TCG) a node process starts many times slower than on hardware.
 */
export function waitScale(): number {
  const f = Number(process.env['REPRO_WAIT_SCALE'] ?? 1);
  return Number.isFinite(f) && f >= 1 ? f : 1;
}

/**
 * The longest event line read from an agent. An agent runs in a namespace or container of the lab (inside an image
 * given with --image); a line without end would otherwise grow in memory until the runner dies. The largest real
 * event (the final report: up to three histograms, each at most 1 MiB encoded) is far below.
 */
export const MAX_EVENT_LINE = 4 * 1024 * 1024;

/**
 * Split a stream into lines of at most `max` bytes: each complete line goes to `onLine`; a line that grows past
 * `max` goes to `onOverflow` once, and reading stops.
 */
export function readLines(input: Readable, max: number, onLine: (line: string) => void, onOverflow: () => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let over = false;
  input.on('data', (chunk: Buffer) => {
    if (over) return;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      if (size + nl - start > max) break;
      parts.push(chunk.subarray(start, nl));
      onLine(Buffer.concat(parts).toString('utf8'));
      parts = [];
      size = 0;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    size += rest.length;
    if (size > max) {
      over = true;
      parts = [];
      onOverflow();
      return;
    }
    if (rest.length > 0) parts.push(rest);
  });
}

/** How the runner reaches an agent: its stdin, stdout and stderr, how it ends, how to end it. */
export interface AgentTransport {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves with the exit code once the agent has ended. */
  exited: Promise<number>;
  kill(): void;
}

/**
 * A running agent, read as NDJSON events, whatever runs it (a namespace, a container exec).
 * Writing "start" releases its load; closing its stdin asks it to stop and report.
 */
export class AgentConnection {
  readonly events: AgentEvent[] = [];
  private readonly listeners: ((e: AgentEvent) => void)[] = [];
  private stderrText = '';
  private ended = false;
  readonly exited: Promise<number>;

  constructor(readonly label: string, private readonly transport: AgentTransport) {
    transport.stdin.on('error', () => undefined);
    transport.stderr.setEncoding('utf8');
    transport.stderr.on('data', (d: string) => {
      if (this.stderrText.length < 16_384) this.stderrText += d;
    });
    const take = (e: AgentEvent): void => {
      this.events.push(e);
      for (const l of this.listeners) l(e);
    };
    readLines(
      transport.stdout,
      MAX_EVENT_LINE,
      (line) => {
        if (line.trim() !== '') take(parseEvent(line));
      },
      () => {
        take({ type: 'error', message: `agent printed a line over ${MAX_EVENT_LINE} bytes: stopped` });
        transport.kill();
      },
    );
    this.exited = transport.exited.then((code) => {
      this.ended = true;
      return code;
    });
  }

  get errorOutput(): string {
    return this.stderrText.trim();
  }

  onEvent(l: (e: AgentEvent) => void): void {
    this.listeners.push(l);
  }

  /** Resolve with the first event of this type; reject if the agent exits first or the time runs out. */
  waitFor<T extends AgentEvent['type']>(type: T, waitMs: number): Promise<Extract<AgentEvent, { type: T }>> {
    type E = Extract<AgentEvent, { type: T }>;
    const timeoutMs = waitMs * waitScale();
    const seen = this.events.find((e) => e.type === type);
    if (seen) return Promise.resolve(seen as E);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no ${type} event within ${timeoutMs} ms${this.tail()}`)), timeoutMs);
      this.onEvent((e) => {
        if (e.type === type) {
          clearTimeout(timer);
          resolve(e as E);
        } else if (e.type === 'error') {
          clearTimeout(timer);
          reject(new Error(`${this.label}: ${e.message}`));
        }
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        // Give the line reader a moment: the last event may still be in flight when the exit is seen.
        setTimeout(() => reject(new Error(`${this.label} exited with code ${code}${signalNote(code)} before its ${type} event${this.tail()}`)), 50);
      });
    });
  }

  private tail(): string {
    const t = this.errorOutput;
    return t ? `: ${t.split('\n').slice(-3).join(' | ')}` : '';
  }

  send(line: string): void {
    if (!this.transport.stdin.writableEnded) this.transport.stdin.write(line + '\n');
  }

  /** Close stdin: the agent's signal to stop (and to report what it has). */
  closeInput(): void {
    if (!this.transport.stdin.writableEnded) this.transport.stdin.end();
  }

  kill(): void {
    if (!this.ended) this.transport.kill();
  }

  /** Ask the agent to stop; kill it if it has not exited within graceMs. */
  async stop(graceMs = 3000): Promise<number> {
    this.closeInput();
    const timer = setTimeout(() => this.kill(), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
