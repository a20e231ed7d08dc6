import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { parseEvent, type AgentEvent } from '../agents/common/protocol.js';

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
    createInterface({ input: transport.stdout }).on('line', (line) => {
      if (line.trim() === '') return;
      const e = parseEvent(line);
      this.events.push(e);
      for (const l of this.listeners) l(e);
    });
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
  waitFor<T extends AgentEvent['type']>(type: T, timeoutMs: number): Promise<Extract<AgentEvent, { type: T }>> {
    type E = Extract<AgentEvent, { type: T }>;
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

/** The compiled agent script `dist/agents/<agent>.js`. */
export function agentScript(agent: string): string {
  return fileURLToPath(new URL(`../agents/${agent}.js`, import.meta.url));
}

/**
 * An agent started inside a network namespace: `ip netns exec NS node dist/agents/<agent>.js <json config>`;
 * netns null: in the runner's own namespace (tcp/burst, whose threads enter the clients' namespaces themselves).
 * `nice` > 0 lowers its CPU priority, < 0 raises it (the server must never starve behind the load).
 */
export class AgentProcess extends AgentConnection {
  constructor(label: string, netns: string | null, agent: string, config: object, nice = 0) {
    const command = [process.execPath, agentScript(agent), JSON.stringify(config)];
    const niced = nice === 0 ? command : ['nice', '-n', String(nice), ...command];
    const [file = process.execPath, ...args] = netns === null ? niced : ['ip', 'netns', 'exec', netns, ...niced];
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve) => {
      child.on('error', () => resolve(127));
      // Killed by a signal: 128 + its number, as a shell says it (SIGBUS: 135), so the report names which.
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
    });
    super(label, {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exited,
      kill: () => {
        if (child.exitCode === null) child.kill('SIGKILL');
      },
    });
  }
}

/** ", killed by SIGxxx" for an exit code above 128 that is a signal's number + 128, else nothing. */
export function signalNote(code: number): string {
  const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
  return code > 128 && name ? ` (killed by ${name})` : '';
}
