import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import type { DnsLoadFigures } from '../../src/bench/dnsQueryRate.js';
import { runBenchSection } from './benchSection.js';
import { underCi } from '../ci.js';

const DNS_ENGINE = new URL('../../dist/native/dns_engine.node', import.meta.url).pathname;

/** dnsperf is the baseline: missing, the test skips with the reason, and under CI it fails (.ci/run installs it). */
function gate(): { skip: boolean; reason: string } {
  const g = capabilityGate();
  if (g.skip) return g;
  const r = spawnSync('dnsperf', ['-h'], { encoding: 'utf8' });
  if (!r.error) return g;
  if (underCi()) throw new Error('the dns bench test needs dnsperf under CI (apt-get install dnsperf)');
  return { skip: true, reason: 'dnsperf is missing (apt-get install dnsperf)' };
}
const g = gate();

interface DnsRow {
  mode: string;
  rule: string;
  ours: DnsLoadFigures;
  dnsperf: DnsLoadFigures;
  cLoop: DnsLoadFigures;
  ratio: number;
}

describe.skipIf(g.skip)(`npm run bench dns (netns, real kernel)${g.skip ? ` — skipped: ${g.reason}` : ''}`, () => {
  it('measures the raw client, dnsperf and the C lookup loop against one server agent, writes the figures, leaves the host as found', async () => {
    const before = hostSnapshot();
    const r = runBenchSection<{ modes: DnsRow[]; config: Record<string, unknown> }>('dns', { REPRO_BENCH_DNS_LOOKUPS: '2000', REPRO_BENCH_DNS_MODES: 'none' }, 100_000);
    expect(r.stderr).not.toMatch(/bench: /);
    expect(r.status).toBe(0);
    expect(r.files).toHaveLength(1);
    const dns = r.bench?.sections['dns'];
    if (!dns) throw new Error('no dns section in the bench file');
    expect(dns.config['lookupsPerLoad']).toBe(2000);
    expect(dns.modes.map((m) => m.mode)).toEqual(['none']);
    for (const row of dns.modes) {
      expect(row.rule).toContain('-j MASQUERADE');
      for (const load of [row.ours, row.dnsperf, row.cLoop]) {
        // Every lookup's two queries answered, none failed.
        expect(load.queriesSent).toBe(4000);
        expect(load.queriesAnswered).toBe(4000);
        expect(load.failed).toBe(0);
        expect(load.queriesPerSecond).toBeGreaterThan(0);
        expect(load.hostCpuSecondsPer1000).toBeGreaterThan(0);
        expect(load.clientCpuSecondsPer1000).toBeGreaterThan(0);
        expect(load.serverPeakRssKb).toBeGreaterThan(0);
        // The server's headroom counters, read in its namespace around the load.
        for (const k of ['UdpRcvbufErrors', 'UdpInErrors']) expect(load.server).toHaveProperty(k);
        expect(load.server['UdpInDatagrams']).toBeGreaterThanOrEqual(4000);
      }
      expect(row.ours.clientPeakRssKb).toBeGreaterThan(0);
      expect(row.ours.clientStartupCpuSeconds).toBeGreaterThan(0);
      expect(row.ours.lookups).toBe(2000);
      expect(row.ratio).toBeGreaterThan(0);
      // The raw client's fast path: the native engine where it was built (always under CI), else udp_wrap on
      // the supported Node versions.
      const major = Number(process.versions.node.split('.')[0]);
      if (existsSync(DNS_ENGINE) || underCi()) expect(row.ours.socketPath).toBe('native');
      else if (major === 20 || major === 22) expect(row.ours.socketPath).toBe('udp_wrap');
    }
    expect(r.stdout).toMatch(/^dns none +ours \d+ q\/s/m);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);
});
