import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import type { ResultFile } from '../../src/types.js';

const gate = capabilityGate();
const docker = gate.skip ? gate : dockerGate();

/** `repro tcp-syn --load burst --modes none,random-fully` with its defaults, checked against the kernel's own counters. */
async function burstRun(backend: 'netns' | 'docker'): Promise<ResultFile> {
  const before = hostSnapshot();
  const out = mkdtempSync(path.join(tmpdir(), 'repro-burst-'));
  try {
    const r = await runCli(['tcp-syn', '--backend', backend, '--load', 'burst', '--modes', 'none,random-fully', '--json', '--out', out]);
    expect(r.code, r.stderr.slice(-600)).toBe(0);
    const result = JSON.parse(r.stdout) as ResultFile;
    expect(hostSnapshot()).toEqual(before);
    return result;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function checkContrast(result: ResultFile): void {
  expect(result.scenario === 'tcp-syn' && result.config.load).toBe('burst');
  const [none, fully] = result.modes;
  for (const m of result.modes) {
    expect(m.connectPath).toBe('burst-native');
    expect(m.succeeded + m.failed).toBe(m.attempts);
    expect(m.notes.join(' ')).toMatch(/provoked, not how often a workload meets it/);
  }
  // The race provoked: at least 500 per 100 000 attempts, each lost SYN matched by the kernel's insert_failed and
  // confirmed by the clients' own SYN retransmits.
  const race = none?.attribution.conntrackRace ?? 0;
  expect(race * 100_000).toBeGreaterThanOrEqual(500 * (none?.attempts ?? 0));
  expect(none?.counters.conntrack['insert_failed']).toBeGreaterThanOrEqual(race);
  expect(none?.counters.clients['TcpExtTCPSynRetrans']).toBeGreaterThanOrEqual(race);
  expect(none?.verdict).toBe('vulnerable');
  expect(none?.reason).toMatch(/^VULNERABLE when provoked/);
  // --random-fully: (next to) none. Two SYNs released together can still draw the same free port from the random
  // choice (about 1 in 64 000 racing pairs: one drop in ~5 % of default runs here), so the bound is not a hard 0.
  const fullyRace = fully?.attribution.conntrackRace ?? Infinity;
  expect(fullyRace).toBeLessThanOrEqual(2);
  expect(fully?.counters.conntrack['insert_failed']).toBeLessThanOrEqual(2);
  // One drop in 10 000 still bounds the provoked rate below the 50 per 100 000 asked (one-sided 95 %: 47).
  if (fullyRace <= 1) expect(fully?.verdict).toBe('not-vulnerable');
  const c = result.comparisons?.find((x) => x.metric === 'race' && x.candidate === 'random-fully');
  expect(c?.verdict).toBe('better');
  expect(c?.pValue).toBeLessThan(0.001);
}

describe.skipIf(gate.skip)(`repro tcp-syn --load burst on the netns backend${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  // How long a burst load takes is measured by `npm run bench burst` (its elapsedMs and connects per second), not timed here.
  it('none: the race provoked by the thousand; random-fully: none; better at p < 0.001', async () => {
    checkContrast(await burstRun('netns'));
  }, 120_000);
});

describe.skipIf(docker.skip)(`repro tcp-syn --load burst on the docker backend${docker.skip ? ` — skipped: ${docker.reason}` : ''}`, () => {
  it('the same contrast in containers behind the host\'s MASQUERADE, with the host\'s background read', async () => {
    const result = await burstRun('docker');
    checkContrast(result);
    for (const m of result.modes) expect(m.background?.windowMs).toBeGreaterThan(0);
  }, 180_000);
});
