import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseEvent, type AgentEvent } from '../agents/protocol.js';

/**
 * A running agent: the project's own compiled code started inside a network namespace
 * (`ip netns exec NS node dist/agents/<name>.js <json config>`), read as NDJSON events.
 */
export class AgentProcess {
  readonly events: AgentEvent[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly listeners: ((e: AgentEvent) => void)[] = [];
  private stderr = '';
  readonly exited: Promise<number>;

  /** `nice` > 0 lowers the agent's CPU priority, < 0 raises it (the server must never starve behind the load). */
  constructor(readonly label: string, netns: string, agent: string, config: object, nice = 0) {
    const script = fileURLToPath(new URL(`../agents/${agent}.js`, import.meta.url));
    const command = [process.execPath, script, JSON.stringify(config)];
    const niced = nice === 0 ? command : ['nice', '-n', String(nice), ...command];
    this.child = spawn('ip', ['netns', 'exec', netns, ...niced], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < 16_384) this.stderr += d;
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (line.trim() === '') return;
      const e = parseEvent(line);
      this.events.push(e);
      for (const l of this.listeners) l(e);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', () => resolve(127));
      this.child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get errorOutput(): string {
    return this.stderr.trim();
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
        reject(new Error(`${this.label} exited with code ${code} before its ${type} event${this.tail()}`));
      });
    });
  }

  private tail(): string {
    const t = this.errorOutput;
    return t ? `: ${t.split('\n').slice(-3).join(' | ')}` : '';
  }

  send(line: string): void {
    if (!this.child.stdin.destroyed) this.child.stdin.write(line + '\n');
  }

  /** Close stdin: the agent's signal to stop (and to report what it has). */
  closeInput(): void {
    if (!this.child.stdin.destroyed) this.child.stdin.end();
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
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
