/**
 * The report a ticket carries (issue 28 §1): what to do, what machine, plain words, and the rendering defects seen
 * in a default run's report.html and report.md. Each expectation here failed on the renderings before.
 */
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../src/report/markdown.js';
import { chartMetrics, inline, renderHtml } from '../../src/report/html.js';
import { buildReportModel, fullCommand, fullTcpSynCommand, mergeEqualRows } from '../../src/report/reportModel.js';
import { fmtP, groupCounts, niceTicks, pClause } from '../../src/report/format.js';
import { MODE_COLORS, latencyChart, placeBandLabels } from '../../src/report/svgCharts.js';
import { measurementRows } from '../../src/report/modeRows.js';
import { reportBaseName } from '../../src/report/resultFiles.js';
import { modeInWords, remediationLines } from '../../src/analysis/remediation.js';
import { nodeSatisfies } from '../../src/analysis/nodeSupport.js';
import { parseOsRelease } from '../../src/host/environment.js';
import { withStatistics } from '../../src/analysis/runStatistics.js';
import { redactResult } from '../../src/report/resultFiles.js';
import { LINEAR_BANDS, defaultShaped, histogramOf, makeResult } from './fixtures/results.js';
import type { ResultFile } from '../../src/types.js';

describe('what to do', () => {
  it('names the mode that fixed it, the rule it wrote, and the fix text audit gives', () => {
    const lines = remediationLines(defaultShaped());
    expect(lines[0]).toBe('Found with MASQUERADE without a flag.');
    expect(lines[1]).toMatch(/^MASQUERADE --random-fully fixed it here: significantly fewer than MASQUERADE without a flag\. The rule this run wrote for it: .* -j MASQUERADE --random-fully$/);
    expect(lines[2]).toContain('add --random-fully to the rule (iptables >= 1.6.2; nft: masquerade fully-random');
  });
  it('does not call a clean mode a fix when the comparison is not settled', () => {
    const r = withStatistics(makeResult([{ mode: 'none', attempts: 150_000, race: 2 }, { mode: 'random-fully', attempts: 150_000 }]));
    r.modes[1]!.verdict = 'not-reproduced';
    const lines = remediationLines(r);
    expect(lines[1]).toMatch(/^MASQUERADE --random-fully showed none here, but not significantly fewer .*comparison: inconclusive/);
  });
  it('says nothing when nothing was found', () => {
    expect(remediationLines(withStatistics(makeResult([{ mode: 'none', attempts: 1000 }])))).toEqual([]);
  });
  it('gives the resolv.conf option that fixed a dns run', () => {
    const r = withStatistics({ ...makeResult([{ mode: 'none', attempts: 12_000, race: 3 }, { mode: 'single-request-reopen', attempts: 12_000 }]), scenario: 'dns', config: { backend: 'netns', modes: ['none', 'single-request-reopen'] } } as ResultFile);
    r.modes[1]!.verdict = 'not-reproduced';
    expect(remediationLines(r).join('\n')).toContain('resolv.conf: "options single-request-reopen" fixed it here');
  });
  it('is in both documents', () => {
    expect(renderMarkdown(defaultShaped())).toContain('## What to do');
    expect(renderHtml(defaultShaped())).toContain('<h2 id="what-to-do">');
  });
});

describe('plain words', () => {
  it('names MASQUERADE modes as the rule, not "none"', () => {
    expect(modeInWords('tcp-syn', 'none')).toBe('MASQUERADE without a flag');
    expect(modeInWords('dns', 'use-vc')).toBe('resolv.conf "options use-vc" (MASQUERADE without a flag)');
    expect(modeInWords('vxlan', 'legacy+offload-off')).toBe("kube-proxy's legacy KUBE-POSTROUTING (tx checksum offload off)");
    expect(modeInWords('vxlan', 'patched+none')).toBe("kube-proxy's patched KUBE-POSTROUTING (MASQUERADE without a flag)");
    expect(modeInWords('vxlan', 'legacy')).toBe("kube-proxy's legacy KUBE-POSTROUTING");
    const head = buildReportModel(defaultShaped()).headline;
    expect(head).toContain('reproduced with MASQUERADE without a flag');
    expect(head).not.toMatch(/with none\b/);
  });
});

describe('the machine', () => {
  it('reads the distribution from os-release as os-release(5) writes it', () => {
    expect(parseOsRelease('NAME="Debian GNU/Linux"\nVERSION="12 (bookworm)"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')).toBe('Debian GNU/Linux 12 (bookworm)');
    expect(parseOsRelease("NAME='Alpine Linux'\nVERSION=3.20\n")).toBe('Alpine Linux 3.20');
    expect(parseOsRelease('PRETTY_NAME="A \\"quoted\\" name"')).toBe('A "quoted" name');
    expect(parseOsRelease('garbage')).toBeNull();
  });
  it('shows the distribution and the host name; a redacted result shows no host row', () => {
    const env = buildReportModel(defaultShaped()).environment.rows;
    expect(env).toContainEqual(['system', 'Debian GNU/Linux 12 (bookworm) · x64 · 2 CPUs']);
    expect(env).toContainEqual(['host', 'node-7']);
    const r = defaultShaped();
    const redacted = redactResult(r);
    expect(JSON.stringify(redacted)).not.toContain('node-7');
    expect(r.environment.hostname).toBe('node-7');
    expect(buildReportModel(redacted).environment.rows.map((x) => x[0])).not.toContain('host');
    expect(renderMarkdown(redacted)).not.toContain('node-7');
  });
  it('checks node against package.json engines and warns when it is outside', () => {
    expect(nodeSatisfies('v24.11.0', '^22.19.0 || >=24.0.0')).toBe(true);
    expect(nodeSatisfies('v22.18.0', '^22.19.0 || >=24.0.0')).toBe(false);
    expect(nodeSatisfies('v22.19.0', '^22.19.0 || >=24.0.0')).toBe(true);
    expect(nodeSatisfies('v20.19.5', '^22.19.0 || >=24.0.0')).toBe(false);
    expect(nodeSatisfies('v23.1.0', '^22.19.0 || >=24.0.0')).toBe(false);
    expect(nodeSatisfies('v24.0.0', '~24')).toBeNull();
    const r = defaultShaped();
    r.environment.node = 'v20.19.5';
    const m = buildReportModel(r);
    expect(m.hostWarnings.join('\n')).toContain('node v20.19.5 is outside the versions this build supports (package.json engines: ^22.19.0 || >=24.0.0)');
    expect(m.environment.rows).toContainEqual(['node', 'v20.19.5 (unsupported: engines ^22.19.0 || >=24.0.0)']);
  });
  it('spells out every option that decided the run, defaults included', () => {
    const cmd = fullTcpSynCommand(defaultShaped()) ?? '';
    for (const o of ['--load steady', '--protocol tcp', '--capture off', '--backend netns', '--close rst']) expect(cmd).toContain(o);
    const r = defaultShaped();
    if (r.scenario === 'tcp-syn') r.config = { ...r.config, capture: true, protocol: 'http', keepalive: true };
    expect(fullTcpSynCommand(r)).toMatch(/--protocol http --keepalive --capture on$/);
    const dns = { ...r, scenario: 'dns', config: { backend: 'netns', modes: ['none', 'notrack'], client: 'libc', clients: 4, workers: 2, concurrency: 16, queries: 12000, durationSec: 15, backends: 3, vip: true, zone: 'repro.test', timeoutMs: 5000, attempts: 2, serverWorkers: 2, port: 53, detectRatePer100k: 25, clientSubnet: '10.213.0.0/24', backendAddresses: ['10.213.1.2'] } } as ResultFile;
    expect(fullCommand(dns)).toBe('repro dns --backend netns --modes none,notrack --client libc --clients 4 --workers 2 --concurrency 16 --queries 12000 --duration 15 --backends 3 --vip on --zone repro.test --server-workers 2 --port 53 --detect-rate 25');
  });
});

describe('numbers', () => {
  it('prints p with the digits the sentences use, and a clause that never reads "p = < ..."', () => {
    expect(fmtP(0.001953125)).toBe('0.001953');
    expect(fmtP(0.5)).toBe('0.5');
    expect(fmtP(0)).toBe('< 1e-300');
    expect(pClause(0.0002441)).toBe('p = 0.0002441');
    expect(pClause(0)).toBe('p < 1e-300');
  });
  it('groups bare counts in sentences but not ports, sequence numbers, ranges or ids', () => {
    expect(groupCounts('no race drop in 150000 attempts: for 0 in 150000: 2 per 100 000')).toBe('no race drop in 150,000 attempts: for 0 in 150,000: 2 per 100 000');
    const evidence = '10.213.0.12:40032 (seq 1796919415) at +0.104 s; ports 40000-40199; run 17aa63; 0.0002441';
    expect(groupCounts(evidence)).toBe(evidence);
  });
  it('ticks the interval axis at 1, 2 or 5 times a power of ten', () => {
    expect(niceTicks(7.72)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(4.82)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(niceTicks(103_300)).toEqual([0, 50_000, 100_000, 150_000]);
    const html = renderHtml(defaultShaped());
    const rates = html.slice(html.indexOf('class="chart rates"'));
    const ticks = [...rates.matchAll(/text-anchor="middle">([\d.,]+)<\/text>/g)].map((m) => Number(m[1]!.replace(/,/g, '')));
    expect(ticks.length).toBeGreaterThan(2);
    // Evenly spaced, by a step of 1, 2 or 5 times a power of ten (not 2.57, 5.15, 7.72).
    const step = (ticks[1] ?? 0) - (ticks[0] ?? 0);
    ticks.forEach((t, i) => expect(t).toBeCloseTo(i * step, 9));
    expect([1, 2, 5]).toContain(Math.round(step / 10 ** Math.floor(Math.log10(step))));
  });
});

describe('tables', () => {
  it('says all-zero stall bands once', () => {
    const rows = measurementRows(defaultShaped().modes).filter((r) => r[0]!.startsWith('stalls'));
    expect(rows).toEqual([
      ['stalls ~1s', '13', '0', '0'],
      ['stalls ~2s … ~131s (10 bands)', '0', '0', '0'],
    ]);
  });
  it('merges rows equal in every mode, and keeps different ones apart', () => {
    expect(mergeEqualRows([['stalls', 'a', 'b'], ['lost', 'a', 'b'], ['race', 'a', 'c']], ' per 100k')).toEqual([
      ['stalls = lost per 100k', 'a', 'b'], ['race per 100k', 'a', 'c'],
    ]);
  });
  it('report.md has no raw HTML (GitHub and Jira render it as text)', () => {
    const md = renderMarkdown(defaultShaped());
    expect(md).not.toMatch(/<\/?(details|summary|sub|br|div|span)\b/i);
  });
});

describe('report.html', () => {
  const html = renderHtml(defaultShaped());
  const visible = html.replace(/<style>[\s\S]*?<\/style>/, '').replace(/<[^>]+>/g, '');
  it('prints no literal backticks: code spans are <code>', () => {
    expect(visible).not.toContain('`');
    expect(inline('a `b<c` d')).toBe('a <code>b&lt;c</code> d');
  });
  it('has the verdict in the page title and anchors on every section', () => {
    expect(html).toMatch(/<title>REPRODUCED · repro tcp-syn · run a1b2c3/);
    for (const id of ['what-to-do', 'latency', 'modes', 'comparisons', 'counters', 'environment', 'reproduce']) expect(html).toContain(`<h2 id="${id}">`);
  });
  it('left-aligns text tables\' headers and prints folded parts open', () => {
    expect(html).toMatch(/table\.wide td,table\.wide th\{text-align:left\}/);
    expect(html).toMatch(/@media print\{[\s\S]*details::details-content\{content-visibility:visible/);
  });
  it('colours modes with neither red nor green', () => {
    for (const c of MODE_COLORS) {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16) / 255) as [number, number, number];
      const max = Math.max(r, g, b);
      const d = max - Math.min(r, g, b);
      if (d < 0.15) continue; // a grey
      const hue = (max === r ? ((g - b) / d + 6) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4) * 60;
      expect(hue < 15 || hue > 345, `${c} is red (hue ${hue.toFixed(0)})`).toBe(false);
      expect(hue > 85 && hue < 160, `${c} is green (hue ${hue.toFixed(0)})`).toBe(false);
    }
  });
  it('keeps the legend out of the plot and band labels apart', () => {
    const svg = latencyChart([{ name: 'none', histogram: histogramOf([500, 1_003_000]) }], LINEAR_BANDS, 't');
    const plotBottom = Math.max(...[...svg.matchAll(/<rect class="band" x="[\d.]+" y="(\d+)" width="[\d.]+" height="([\d.]+)"/g)].map((m) => Number(m[1]) + Number(m[2])));
    const legendY = Number(/<g class="legend-item"><rect x="[\d.]+" y="([\d.]+)"/.exec(svg)?.[1]);
    expect(legendY).toBeGreaterThan(plotBottom);
    const labels = placeBandLabels(LINEAR_BANDS.map((name, i) => ({ name, x: 500 + i * 12 })));
    for (const row of [0, 1]) {
      const xs = labels.filter((l) => l.row === row).map((l) => l.x);
      for (let i = 1; i < xs.length; i++) expect(xs[i]! - xs[i - 1]!).toBeGreaterThanOrEqual(20);
    }
  });
  it('charts what vxlan measures: the double-SNAT share', () => {
    const r = defaultShaped();
    const v = { ...r, scenario: 'vxlan', config: { backend: 'netns', modes: ['legacy', 'patched'] } } as ResultFile;
    for (const m of v.modes) m.rates = [...(m.rates ?? []), { metric: 'double_snat', description: '', count: 10, attempts: 10, per100k: 100_000, lower: 1, upper: 2 }];
    expect(chartMetrics(v)[0]).toBe('double_snat');
    expect(buildReportModel(v).headline).toMatch(/^REPRODUCED: the vxlan double SNAT was reproduced with /);
  });
});

describe('file names', () => {
  it('are repro-<scenario>-<run id>, so two runs attached to one ticket do not collide', () => {
    expect(reportBaseName({ scenario: 'tcp-syn', runId: '17aa63' })).toBe('repro-tcp-syn-17aa63');
    expect(reportBaseName({ scenario: 'dns', runId: '../x' })).toBe('repro-dns-___x');
  });
});
