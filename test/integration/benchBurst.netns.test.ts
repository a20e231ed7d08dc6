/**
 * `npm run bench burst`, shrunk: for each mode the steady load and the burst load against one server agent, the
 * NAT's insert_failed per load, the figures the section prints, and the host left as found. The race rates
 * themselves come from `npm run bench` on a quiet machine; asserted here is only what the kernel guarantees.
 */
import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runBenchSection } from './benchSection.js';
import type { BurstModeRow } from '../../src/scenarios/shared/burstRaces.js';

const g = capabilityGate();

describe.skipIf(g.skip)(`npm run bench burst (netns, real kernel)${g.skip ? ` — skipped: ${g.reason}` : ''}`, () => {
  it('measures steady and burst per mode, race drops per second and per 100 000 attempts, and leaves the host as found', () => {
    const before = hostSnapshot();
    const r = runBenchSection<{ modes: BurstModeRow[]; config: { steady: { connections: number }; burst: { connections: number; clients: number } } }>(
      'burst', { REPRO_BENCH_CONNECTIONS: '4000', REPRO_BENCH_BURST_CONNECTIONS: '4000' }, 100_000,
    );
    expect(r.stderr).not.toMatch(/bench: /);
    expect(r.status).toBe(0);
    expect(r.files).toHaveLength(1);
    const section = r.bench?.sections['burst'];
    if (!section) throw new Error('no burst section in the bench file');
    expect(section.config.steady.connections).toBe(4000);
    expect(section.config.burst).toMatchObject({ connections: 4000, clients: 2 });
    expect(section.modes.map((m) => m.mode)).toEqual(['none', 'random-fully']);
    for (const row of section.modes) {
      expect(row.steady).toMatchObject({ load: 'steady', attempts: 4000, failed: 0, clients: 4 });
      expect(row.burst).toMatchObject({ load: 'burst', attempts: 4000, failed: 0, clients: 2 });
      expect(row.burst.burst?.rounds).toBe(2000);
      for (const f of [row.steady, row.burst]) {
        expect(f.connectsPerSecond).toBe(Math.round((f.attempts / f.elapsedMs) * 1000));
        expect(f.raceDropsPer100k).toBe(Math.round((f.raceDrops / f.attempts) * 100_000 * 10) / 10);
        // Every race drop is a SYN its client sent again (a steady run may add a stray retransmit of its own).
        expect(f.clientSynRetrans).toBeGreaterThanOrEqual(f.raceDrops);
        expect(f.serverListenOverflows).toBe(0);
      }
    }
    const [none, fully] = section.modes;
    // The burst provokes the race without a flag (thousands per 100 000 here, a steady load a handful).
    expect(none?.burst.raceDrops).toBeGreaterThanOrEqual(20);
    expect(fully?.burst.raceDrops).toBeLessThanOrEqual(2);
    expect(r.stdout).toMatch(/^burst none: burst {2}4000 attempts at \d+\/s, \d+ race drops \([\d.]+\/s, [\d.]+ per 100 000;/m);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);
});
