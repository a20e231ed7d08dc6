import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot, type HostSnapshot } from './hostSnapshot.js';
import type { TcpLab } from '../../src/scenarios/shared/tcpLab.js';
import type { ReadyEvent } from '../../src/agents/common/protocol.js';

const gate = capabilityGate();
const PORT = 8099;

/** The processes whose parent is `pid` (the server's cluster workers). */
function children(pid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
}
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(gate.skip)(`a terminal's Ctrl-C and the server agent${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  let lab: TcpLab | null = null;
  let before: HostSnapshot;
  beforeAll(async () => {
    before = hostSnapshot();
    const { openTcpLab } = (await import('../../dist/scenarios/shared/tcpLab.js')) as typeof import('../../src/scenarios/shared/tcpLab.js');
    lab = await openTcpLab({ command: 'server interrupt test', clients: 1, portRange: [40000, 49999], serverPort: PORT, serverWorkers: 2, mode: 'random-fully' });
  }, 60_000);
  afterAll(async () => {
    await lab?.close();
    expect(hostSnapshot()).toEqual(before);
  }, 60_000);

  it('SIGINT to its cluster workers (as a terminal sends it to the whole group) leaves them serving', async () => {
    if (!lab) throw new Error('no lab');
    const ready = lab.server.events.find((e): e is ReadyEvent => e.type === 'ready');
    const workers = children(ready?.pid ?? 0);
    expect(workers).toHaveLength(2);
    for (const w of workers) process.kill(w, 'SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    expect(workers.filter(alive)).toEqual(workers);
    const [res] = await lab.runClients({ workers: 1, concurrency: 8, connections: 500, durationMs: 10_000, connectTimeoutMs: 2000, close: 'rst', progressIntervalMs: 500 });
    expect(res?.succeeded).toBe(500);
    expect(res?.failures).toEqual({});
  }, 60_000);
});
