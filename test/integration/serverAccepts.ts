import type { AgentConnection } from '../../src/runner/agentConnection.js';
import type { AgentEvent, TcpServerStatsEvent } from '../../src/agents/common/protocol.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A tcp/server agent's accept count so far: give its sink a moment to accept the last connects, then ask
 * (the answer counts every accept so far). */
export async function acceptedSoFar(server: AgentConnection): Promise<number> {
  await sleep(700);
  const seen = server.events.filter((e) => e.type === 'stats').length;
  server.send('stats');
  for (let i = 0; i < 100; i++) {
    const stats = server.events.filter((e: AgentEvent): e is TcpServerStatsEvent => e.type === 'stats');
    if (stats.length > seen) return stats[stats.length - 1]?.accepted ?? 0;
    await sleep(20);
  }
  throw new Error('the server agent did not answer "stats"');
}
