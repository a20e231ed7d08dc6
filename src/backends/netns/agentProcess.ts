import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AgentConnection } from '../../runner/agentConnection.js';
import { EXIT, exitCodeOfSignal } from '../../exitCodes.js';
import type { AgentName } from '../../agents/common/protocol.js';

/** CPU priority (nice) of a high-priority agent (a server: on a 2-core host the load would otherwise starve it). */
export const HIGH_PRIORITY_NICE = -10;

/** The compiled agent script `dist/agents/<agent>.js`. */
export function agentScript(agent: AgentName): string {
  return fileURLToPath(new URL(`../../agents/${agent}.js`, import.meta.url));
}

/**
 * An agent started inside a network namespace: `ip netns exec NS node dist/agents/<agent>.js <json config>`;
 * netns null: in the runner's own namespace (tcp/burst, whose threads enter the clients' namespaces themselves).
 * `nice` > 0 lowers its CPU priority, < 0 raises it (the server must never starve behind the load).
 */
export class AgentProcess extends AgentConnection {
  constructor(label: string, netns: string | null, agent: AgentName, config: object, nice = 0) {
    const command = [process.execPath, agentScript(agent), JSON.stringify(config)];
    const niced = nice === 0 ? command : ['nice', '-n', String(nice), ...command];
    const [file = process.execPath, ...args] = netns === null ? niced : ['ip', 'netns', 'exec', netns, ...niced];
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve) => {
      child.on('error', () => resolve(127));
      // Killed by a signal: 128 + its number, as a shell says it (SIGBUS: 135), so the report names which.
      child.on('close', (code, signal) => resolve(code ?? (signal ? exitCodeOfSignal(signal) : EXIT.FAILED)));
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
