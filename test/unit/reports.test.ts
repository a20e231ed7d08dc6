import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderHtml } from '../../src/report/html.js';
import { buildReportModel } from '../../src/report/reportModel.js';
import { logBins } from '../../src/report/svgCharts.js';
import { withStatistics } from '../../src/analysis/runStatistics.js';
import { histogramOf, makeResult } from './fixtures/results.js';
import { fromUname } from './fixtures/distroKernels.js';

const RESULT = makeResult([
  { mode: 'none', attempts: 60_000, race: 8 },
  { mode: 'random-fully', attempts: 60_000 },
]);

describe('statistics in the result', () => {
  it('adds rates per mode and comparisons against the first mode', () => {
    const r = withStatistics(RESULT);
    const race = r.modes[0]?.rates?.find((x) => x.metric === 'race');
    expect(race?.count).toBe(8);
    expect(race?.per100k).toBeCloseTo(13.33, 2);
    expect(race?.lower).toBeLessThan(13.33);
    expect(race?.upper).toBeGreaterThan(13.33);
    // Gauges such as `entries` are not given a rate.
    expect(r.modes[0]?.rates?.some((x) => x.metric === 'entries')).toBe(false);
    expect(r.comparisons?.map((c) => [c.candidate, c.baseline, c.metric, c.verdict])).toEqual([
      ['random-fully', 'none', 'race', 'better'],
      ['random-fully', 'none', 'lost', 'better'],
    ]);
  });
});

describe('report.md', () => {
  const md = renderMarkdown(RESULT);
  it('puts the verdict first and the sections in order', () => {
    const lines = md.split('\n');
    expect(lines[0]).toMatch(/^# repro tcp-syn · run a1b2c3/);
    expect(lines[2]).toMatch(/^\*\*Verdict: REPRODUCED: .*random-fully is better than none \(p = 0\.0078\)/);
    const order = ['## Modes side by side', '## Comparisons', '## Kernel counters', '## Environment', '## Reproduce'].map((h) => md.indexOf(h));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
  it('shows modes side by side with rates, the comparison, the kernel fixes and the command', () => {
    expect(md).toContain('|  | none | random-fully |');
    expect(md).toMatch(/\| race per 100k \(two-sided 95 % CI\) \| 13\.3 \(5\.76–26\.3\) \| 0 \(0–6\.15\) \|/);
    expect(md).toMatch(/\| random-fully vs none \| race \| 0\/60,000 vs 8\/60,000 \| 0 \(0–0\.\d+\) \| 0\.0078 \| better \|/);
    expect(md).toContain('What kernel 6.18.44 can show');
    expect(md).toContain('✅ present');
    expect(md).toContain('```sh\nrepro tcp-syn --connections 60000\n```');
    expect(md).toContain('--port-range 40000-40199 --close rst');
    expect(md).toContain('<details><summary>All counter deltas</summary>');
  });
  it('marks absent and unknown changes', () => {
    const old = renderMarkdown(makeResult([{ mode: 'none', attempts: 1000 }], { kernelVersion: fromUname('5.9.3'), kernel: '5.9.3' }));
    expect(old).toContain('❌ absent');
    // Every release in the table is pinned by a source now: only a version nobody can read is unknown.
    expect(renderMarkdown(makeResult([{ mode: 'none', attempts: 1000 }], { kernelVersion: fromUname('vendor'), kernel: 'vendor' }))).toContain('❔ unknown');
    expect(old).toContain('_One mode only: nothing to compare._');
  });
});

describe('report.html', () => {
  const html = renderHtml(RESULT);
  it('is self-contained: no script, no external resource', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
  });
  it('draws one latency line per mode and marks the signature bands', () => {
    expect(html.match(/<polyline class="series"/g)).toHaveLength(2);
    expect(html).toContain('data-mode="none"');
    expect(html.match(/<rect class="band"/g)).toHaveLength(3);
    // The none mode's 8 stalls at ~1 s are drawn as a marked point.
    expect(html).toContain('<title>none: 8 attempts in 1,000–1,259 ms</title>');
    expect(html.match(/<circle class="point"/g)).toHaveLength(6);
  });
  it('escapes text', () => {
    const r = makeResult([{ mode: 'none', attempts: 10 }]);
    r.command = 'repro tcp-syn --modes "<b>"';
    expect(renderHtml(r)).toContain('repro tcp-syn --modes &quot;&lt;b&gt;&quot;');
  });
});

describe('other scenarios', () => {
  it('renders a dns-shaped result: its own bands and unit, generic config line', () => {
    const r = makeResult([{ mode: 'none', attempts: 12_000, race: 2 }, { mode: 'single-request', attempts: 12_000 }]);
    const dns = {
      ...r,
      scenario: 'dns' as const,
      config: { backend: 'netns' as const, modes: ['none', 'single-request'], client: 'libc', queries: 12_000, detectRatePer100k: 25 },
      modes: r.modes.map((m) => ({ ...m, signatures: { '5s': m.signatures['1s'] ?? 0, '10s': 0 }, attribution: { ...m.attribution, unit: 'lost-query' as const } })),
    };
    const html = renderHtml(dns);
    expect(html.match(/<rect class="band"/g)).toHaveLength(2);
    expect(html).toContain('>5s</text>');
    const md = renderMarkdown(dns);
    expect(md).toContain('client libc · queries 12000');
    expect(md).toContain('| stalls ~5s | 2 | 0 |');
    expect(md).not.toContain('with every option spelled out');
    expect(withStatistics(dns).modes[1]?.rates?.find((x) => x.metric === 'lost')?.description).toContain('lost queries');
  });
});

describe('chart bins', () => {
  it('puts values into log-spaced bins', () => {
    const bins = logBins(histogramOf([1000, 1000, 1_000_000]));
    expect(bins.get(30)).toBe(2);
    expect(bins.get(60)).toBe(1);
    expect([...bins.values()].reduce((s, n) => s + n, 0)).toBe(3);
  });
  it('reuses statistics already in the file', () => {
    const r = withStatistics(RESULT);
    expect(buildReportModel(r).result).toBe(r);
  });
});

describe('packet evidence in the reports', () => {
  const record = {
    client: '10.213.0.2', sport: 40123, seq: 123, atMs: 2314, reachedServer: true,
    collision: { client: '10.213.0.4', sport: 40123, translated: '10.213.1.1:40123', dtUs: 18 },
  };
  const base = makeResult([{ mode: 'none', attempts: 60_000, race: 1 }]);
  const r = { ...base, modes: base.modes.map((m) => ({ ...m, evidence: { captured: 60_001, capturedDrops: 0, lostSyns: 1, collisions: 1, records: [record], recordsOmitted: 0 } })) };
  const said = '10.213.0.2:40123 (seq 123) at +2.314 s never left the NAT (a retransmit later did); 10.213.0.4:40123 had been translated to 10.213.1.1:40123 18 µs earlier';
  it('tells each recorded lost SYN in words in markdown, html and the terminal', async () => {
    const { renderTerminal } = await import('../../src/report/terminal.js');
    expect(renderMarkdown(r)).toContain(said);
    expect(renderHtml(r)).toContain('10.213.1.1:40123 18 µs earlier');
    expect(renderTerminal(r)).toContain(said);
  });
});
