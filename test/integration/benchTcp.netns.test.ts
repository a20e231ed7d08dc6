/**
 * `npm run bench tcp`, shrunk: the section measures the client agents (native engine and handle path) and the C
 * connect loop against one server agent, for each mode, writes every figure the README's table is made from, and
 * leaves the host as found. No speed is asserted here (figures come from `npm run bench` on a quiet machine).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import type { ModeRow } from '../../src/bench/tcpConnectRate.js';
import { runBenchSection } from './benchSection.js';
import { underCi } from '../ci.js';

const ENGINE = fileURLToPath(new URL('../../dist/native/connect_engine.node', import.meta.url));

/** gcc builds the C baseline: missing, the test skips with the reason, and under CI it fails. */
function gate(): { skip: boolean; reason: string } {
  const g = capabilityGate();
  if (g.skip) return g;
  if (!spawnSync('gcc', ['--version']).error) return g;
  if (underCi()) throw new Error('the tcp bench test needs gcc under CI');
  return { skip: true, reason: 'gcc is missing' };
}
const g = gate();

describe.skipIf(g.skip)(`npm run bench tcp (netns, real kernel)${g.skip ? ` — skipped: ${g.reason}` : ''}`, () => {
  it('measures the client agents and the C loop against one server agent per mode, writes the figures, leaves the host as found', async () => {
    const before = hostSnapshot();
    const r = runBenchSection<{ modes: ModeRow[]; config: Record<string, unknown>; server: { acceptPath: string; accepted: number; peakRssMb: number } }>(
      'tcp', { REPRO_BENCH_CONNECTIONS: '4000' }, 100_000,
    );
    expect(r.stderr).not.toMatch(/bench: /);
    expect(r.status).toBe(0);
    expect(r.files).toHaveLength(1);
    expect(r.bench?.schema).toBe('repro/bench@2');
    expect(r.bench?.runnerPeakRssMb).toBeGreaterThan(0);
    const tcp = r.bench?.sections['tcp'];
    if (!tcp) throw new Error('no tcp section in the bench file');
    expect(tcp.config['connectionsPerMode']).toBe(4000);
    expect(tcp.modes.map((m) => m.mode)).toEqual(['none', 'random-fully']);
    for (const row of tcp.modes) {
      // The capture saw every SYN (each crosses the bridge port, the bridge and the server link) and lost none.
      expect(row.withCapture.captureKernelDrops).toBe(0);
      expect(row.withCapture.capturedSyns).toBeGreaterThanOrEqual(3 * 4000);
      for (const f of [row.ours, row.baseline, row.withoutNativeEngine, row.withCapture]) {
        expect(f).toMatchObject({ attempts: 4000, failed: 0 });
        expect(f.connectsPerSecond).toBeGreaterThan(0);
        expect(f.cpuSecondsPer1000).toBeGreaterThan(0);
        expect(f.clientCpuSecondsPer1000).toBeGreaterThan(0);
        expect(f.clientPeakRssMb).toBeGreaterThan(0);
        // The server kept up: a listener that overflowed would make the bench measure it, not the clients.
        expect(f.serverListenOverflows).toBe(0);
        expect(f.serverListenDrops).toBe(0);
      }
      // The engine is built by `npm run build`; where it is, the default path is it, and the fallback is named.
      expect(row.ours.connectPath).toBe(existsSync(ENGINE) ? 'native' : 'handle');
      expect(row.withoutNativeEngine.connectPath).toBe('handle');
      expect(row.ratio).toBe(Math.round((row.ours.connectsPerSecond / row.baseline.connectsPerSecond) * 100) / 100);
    }
    // Four loads per mode (the C loop, the agents, without the native engine, with the capture), every one accepted by the same server agent's sink, counted as of the end.
    expect(tcp.server.acceptPath).toBe('handle');
    expect(tcp.server.accepted).toBe(2 * 4 * 4000);
    expect(r.stdout).toMatch(/^tcp none: ours \d+\/s/m);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);
});
