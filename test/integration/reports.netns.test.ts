import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import { CHROMIUM, loadInChromium } from './headlessChromium.js';
import { chartMetrics } from '../../src/report/html.js';
import type { ResultFile } from '../../src/types.js';
import type { RunSummary } from '../../src/scenarioFile/summary.js';
import type { DiffResult } from '../../src/analysis/diff.js';
import { underCi } from '../ci.js';
import { kernelVersionText } from '../../src/analysis/kernelFixes.js';

const gate = capabilityGate();

/** The one repro-<scenario>-<run id>.<ext> report in a result directory. */
function reportIn(dir: string, ext: 'md' | 'html'): string {
  const found = readdirSync(dir).filter((f) => f.startsWith('repro-') && f.endsWith(`.${ext}`));
  if (found.length !== 1) throw new Error(`${dir}: expected one repro-*.${ext}, found ${found.join(', ') || 'none'}`);
  return path.join(dir, found[0] ?? '');
}
if (!CHROMIUM && underCi()) throw new Error('the report tests need Debian\'s chromium under CI (apt-get install chromium)');

const SIZE = 3000;

/** Two small real runs, shared by the tests below (each costs ~10 s of the 2-core machine). */
const work = mkdtempSync(path.join(tmpdir(), 'repro-reports-'));
const scenarioFile = path.join(work, 'small.yaml');
writeFileSync(
  scenarioFile,
  [
    'name: small',
    'runs:',
    '  - name: modes',
    '    scenario: tcp-syn',
    '    backend: netns',
    '    modes: [none, random-fully]',
    `    options: { load: steady, connections: ${SIZE}, duration: 20 }`,
    '    thresholds:',
    `      "*": ["attempts == ${SIZE}", "race_per_100k_upper > 0"]`,
    `      random-fully: ["attempts > ${SIZE}"]`,
  ].join('\n'),
);

describe.skipIf(gate.skip)(`reports, repro run and repro diff on real runs${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  const runDir = path.join(work, 'run');
  const secondDir = path.join(work, 'second');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('repro run: one results directory, thresholds checked, exit 1 for the one that cannot hold; host left as found', async () => {
    const before = hostSnapshot();
    const r = await runCli(['run', scenarioFile, '--out', runDir]);
    expect(r.stderr).toContain('FAIL: 0/1 runs pass');
    expect(r.code).toBe(1);
    // The last line names the rule that made it exit 1: the file's threshold that cannot hold.
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^· exit 1 by the thresholds of ${scenarioFile.replace(/[.]/g, '\\.')}: modes random-fully: attempts > ${SIZE} \\(`));
    for (const f of ['summary.json', 'summary.md', 'junit.xml', 'modes/result.json']) {
      expect(existsSync(path.join(runDir, f)), f).toBe(true);
    }
    const summary = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary;
    const outcome = summary.runs[0];
    expect(outcome?.exitCode).toBe(0);
    expect(outcome?.thresholds.map((t) => [t.mode, t.threshold, t.ok])).toEqual([
      ['none', `attempts == ${SIZE}`, true],
      ['none', 'race_per_100k_upper > 0', true],
      ['random-fully', `attempts == ${SIZE}`, true],
      ['random-fully', 'race_per_100k_upper > 0', true],
      ['random-fully', `attempts > ${SIZE}`, false],
    ]);
    const junit = readFileSync(path.join(runDir, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testsuites name="repro small" tests="5" failures="1" errors="0"/);
    expect(junit).toContain(`<failure message="random-fully: attempts &gt; ${SIZE} failed: attempts = ${SIZE}, expected &gt; ${SIZE}"`);

    const result = JSON.parse(readFileSync(path.join(runDir, 'modes/result.json'), 'utf8')) as ResultFile;
    expect(result.comparisons?.map((c) => [c.candidate, c.baseline, c.metric])).toEqual([
      ['random-fully', 'none', 'race'],
      ['random-fully', 'none', 'lost'],
    ]);
    for (const m of result.modes) {
      const race = m.rates?.find((x) => x.metric === 'race');
      // The race metric counts attempts (one per stalled attempt the race explains), never more than its lost SYNs.
      expect(race?.count).toBe(m.attribution.raceStalled);
      expect(race?.count ?? Infinity).toBeLessThanOrEqual(m.counters.conntrack['insert_failed'] ?? 0);
      expect(race?.attempts).toBe(SIZE);
    }
    // The reports are named after the scenario and run, so two attached to one ticket do not collide.
    expect(readdirSync(path.join(runDir, 'modes')).filter((f) => f.startsWith('repro-')).sort()).toEqual([
      `repro-tcp-syn-${result.runId}.html`, `repro-tcp-syn-${result.runId}.md`,
    ]);
    const md = readFileSync(reportIn(path.join(runDir, 'modes'), 'md'), 'utf8');
    expect(md.split('\n')[2]).toMatch(/^\*\*Verdict: /);
    expect(md).toContain(`What kernel ${kernelVersionText(result.environment.kernelVersion)} can show`);
    expect(md).toContain('repro tcp-syn --backend netns --modes none,random-fully');
    expect(hostSnapshot()).toEqual(before);
  }, 150_000);

  it.skipIf(!CHROMIUM)('report.html loads in headless Chromium without errors, charts present and non-empty', async () => {
    const page = await loadInChromium(
      reportIn(path.join(runDir, 'modes'), 'html'),
      `const charts = [...document.querySelectorAll('svg.chart')].map((s) => {
         const b = s.getBoundingClientRect();
         return { cls: s.getAttribute('class'), w: b.width, h: b.height,
           series: [...s.querySelectorAll('polyline.series')].map((p) => ({ mode: p.getAttribute('data-mode'), points: p.points.numberOfItems, w: p.getBBox().width, h: p.getBBox().height })),
           bands: s.querySelectorAll('rect.band').length, points: s.querySelectorAll('circle.point').length };
       });
       return { title: document.title, verdict: document.getElementById('verdict')?.textContent ?? '', charts,
         // In-page section anchors (href="#...") are not external.
         external: [...document.querySelectorAll('[src],[href],link,script')].filter((e) => !(e.getAttribute('href') ?? '').startsWith('#')).length };`,
    );
    expect(page.errors).toEqual([]);
    const p = page.probe as {
      title: string; verdict: string; external: number;
      charts: { cls: string; w: number; h: number; series: { mode: string; points: number; w: number; h: number }[]; bands: number; points: number }[];
    };
    expect(p.title).toMatch(/^[A-Z-]+ · repro tcp-syn · run [0-9a-f]{6}/);
    expect(p.verdict).toMatch(/^Verdict: /);
    expect(p.external).toBe(0);
    const [latency, rates] = p.charts;
    expect(latency?.cls).toBe('chart latency');
    expect(latency?.w).toBeGreaterThan(300);
    expect(latency?.series.map((s) => s.mode)).toEqual(['none', 'random-fully']);
    for (const s of latency?.series ?? []) {
      expect(s.points).toBeGreaterThan(4);
      expect(s.w).toBeGreaterThan(10);
      expect(s.h).toBeGreaterThan(10);
    }
    // One shaded band per retransmit the kernel's schedule completes within the connect timeout (6 on 6.18: 1..5, 7 s).
    const result = JSON.parse(readFileSync(path.join(runDir, 'modes/result.json'), 'utf8')) as ResultFile;
    const timeout = result.scenario === 'tcp-syn' ? result.config.connectTimeoutMs : 0;
    const completions = result.modes[0]?.synSchedule?.completionMs.filter((t) => t < timeout) ?? [];
    expect(completions.length).toBeGreaterThan(2);
    expect(latency?.bands).toBe(completions.length);
    expect(rates?.cls).toBe('chart rates');
    // One point per mode for each metric the chart keeps (race, lost, stalls; one that equals an earlier one in every
    // mode is drawn once).
    expect(rates?.points).toBe(chartMetrics(result).length * result.modes.length);
    expect(chartMetrics(result)[0]).toBe('race');
  }, 60_000);

  it('repro diff of two real runs compares each mode with the exact test and matches the files', async () => {
    const before = hostSnapshot();
    const second = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--modes', 'none,random-fully', '--connections', String(SIZE), '--duration', '20', '--out', secondDir]);
    expect(second.code).toBe(0);
    expect(hostSnapshot()).toEqual(before);
    const oldFile = path.join(runDir, 'modes/result.json');
    const newFile = path.join(secondDir, 'result.json');
    const d = await runCli(['diff', oldFile, newFile, '--json']);
    const diff = JSON.parse(d.stdout) as DiffResult;
    expect(d.code).toBe(diff.failures.length > 0 ? 1 : 0);
    const oldR = JSON.parse(readFileSync(oldFile, 'utf8')) as ResultFile;
    const newR = JSON.parse(readFileSync(newFile, 'utf8')) as ResultFile;
    expect(diff.runs).toHaveLength(1);
    expect(diff.runs[0]?.caveats).toEqual([]);
    for (const [i, m] of (diff.runs[0]?.modes ?? []).entries()) {
      const race = m.metrics.find((c) => c.metric === 'race');
      // Compared in attempts: the stalled attempts the race explains, one per attempt.
      expect(race?.baselineCount).toBe(oldR.modes[i]?.attribution.raceStalled);
      expect(race?.candidateCount).toBe(newR.modes[i]?.attribution.raceStalled);
      expect(race?.baselineAttempts).toBe(SIZE);
      // The verdict against the central exact test, summed here by hand: with equal attempts, given m events in all
      // the new run's count is Binomial(m, 1/2) when nothing changed.
      const x = race?.candidateCount ?? 0;
      const total = x + (race?.baselineCount ?? 0);
      const tail = (from: number, to: number): number => {
        let p = 0;
        for (let k = from; k <= to; k++) {
          let c = 1;
          for (let j = 0; j < k; j++) c = (c * (total - j)) / (j + 1);
          p += c / 2 ** total;
        }
        return p;
      };
      const worse = total > 0 && 2 * tail(x, total) < 0.05;
      const better = total > 0 && 2 * tail(0, x) < 0.05;
      expect(race?.verdict).toBe(worse ? 'worse' : better ? 'better' : total < 30 ? 'inconclusive' : race?.verdict === 'no difference' ? 'no difference' : 'inconclusive');
    }
    const never = await runCli(['diff', oldFile, newFile, '--fail-on-worse', 'never']);
    expect(never.code).toBe(0);
    // The table is the document asked for: on stdout, as audit's and report's.
    expect(never.stdout).toMatch(/^tcp-syn \(tcp-syn\)/);
    expect(never.stdout).toMatch(/none\s+race\s+\d+\/3,000\s+\d+\/3,000/);
    const report = await runCli(['report', secondDir, '--format', 'md']);
    expect(report.code).toBe(0);
    expect(report.stdout).toBe(readFileSync(reportIn(secondDir, 'md'), 'utf8'));
  }, 120_000);

  it('refuses a broken scenario file with its place and exit 2, running nothing', async () => {
    const bad = path.join(work, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nruns:\n  - name: a\n    scenario: tcp-syn\n    modes: [none, fastest]\n');
    const r = await runCli(['run', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:5:12: runs[0].modes: --modes: unknown mode "fastest"`);
    expect(r.stderr).toMatch(/repro: .* is not a valid scenario file: 1 problem \(listed above\)/);
  });
});
