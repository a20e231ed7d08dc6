/**
 * `repro history`: many results of one scenario in time order. The changes it flags come from the same exact test
 * `repro diff` makes (checked against R's binom.test values), and the runs whose kernel, rules or harness changed
 * are marked.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildHistory, historySeries, ruleShape } from '../../src/analysis/history.js';
import { renderHistoryHtml, renderHistoryMarkdown, renderHistoryJson } from '../../src/report/history.js';
import { readHistoryInputs, historyCommand } from '../../src/commands/history.js';
import { makeResult } from './fixtures/results.js';
import { fromUname } from './fixtures/distroKernels.js';
import type { ResultFile } from '../../src/types.js';

function night(day: number, race: number, over: Partial<ResultFile['environment']> = {}): ResultFile {
  const r = makeResult([{ mode: 'none', attempts: 60_000, race }, { mode: 'random-fully', attempts: 60_000 }], over);
  const id = `r${day}0000`.slice(0, 6);
  r.runId = id;
  r.startedAt = `2026-12-0${day}T02:00:00.000Z`;
  for (const m of r.modes) m.rule = m.rule.replace(/a1b2c3/g, id).replace('10.213.0.0/24', `10.213.${day}.0/24`);
  return r;
}

describe('history', () => {
  const runs = [night(3, 2), night(1, 2), night(2, 14), night(4, 3, { kernel: '6.19.2', kernelVersion: fromUname('6.19.2') }), night(5, 3, { kernel: '6.19.2', kernelVersion: fromUname('6.19.2') })];
  const h = buildHistory('tcp-syn', runs.map((r) => ({ source: r.runId, result: r })));

  it('puts the runs in time order and gives each mode its rate with the exact interval', () => {
    expect(h.runs.map((r) => r.runId)).toEqual(['r10000', 'r20000', 'r30000', 'r40000', 'r50000']);
    expect(h.metric).toBe('race');
    const none = h.runs[0]?.points.find((p) => p.mode === 'none');
    // 2 in 60 000: Garwood 95 % interval per 100 000 = (qchisq(0.025, 4)/2, qchisq(0.975, 6)/2) / 0.6 = (0.4037, 12.04).
    expect(none?.rate?.per100k).toBeCloseTo(3.333, 3);
    expect(none?.rate?.lower).toBeCloseTo(0.4037, 3);
    expect(none?.rate?.upper).toBeCloseTo(12.04, 2);
  });

  it('flags a real change with the comparison repro diff makes, and not noise', () => {
    // 14 vs 2 in 60 000 each: binom.test(14, 16, 0.5) p = 0.004181 (R); 2 vs 14 the same; 3 vs 2: p = 1, noise.
    const moved = h.runs.map((r) => r.significant.filter((c) => c.metric === 'race').map((c) => `${c.verdict} ${c.pValue.toPrecision(4)}`));
    expect(moved).toEqual([[], ['worse 0.004181'], ['better 0.004181'], [], []]);
  });

  it('marks the run whose kernel changed, and only a real rule change (not the run id or subnet)', () => {
    expect(h.runs.map((r) => r.changes)).toEqual([[], [], [], ['kernel 6.18.44-fc → 6.19.2'], []]);
    expect(ruleShape('REPRO-NAT-ab12cd -s 10.213.3.0/24 ! -o rpab12cd-br -j MASQUERADE', 'ab12cd')).toBe('REPRO-NAT-<id> -s <addr> ! -o rp<id>-br -j MASQUERADE');
    const changed = night(6, 3);
    changed.modes[0]!.rule += ' --random';
    const h2 = buildHistory('tcp-syn', [night(5, 3), changed].map((r) => ({ source: r.runId, result: r })));
    expect(h2.runs[1]?.changes).toEqual(['rule of none: REPRO-NAT-<id> -s <addr> ! -o rp<id>-br -j MASQUERADE → REPRO-NAT-<id> -s <addr> ! -o rp<id>-br -j MASQUERADE --random']);
    const harness = night(7, 3);
    harness.environment.harness = { ...harness.environment.harness, commit: 'feedbeef' };
    expect(buildHistory('tcp-syn', [night(5, 3), harness].map((r) => ({ source: r.runId, result: r }))).runs[1]?.changes[0]).toMatch(/^harness .* → .*\(feedbeef\)$/);
  });

  it('refuses results of two scenarios in one series', () => {
    const dns = { ...night(1, 0), scenario: 'dns', config: { backend: 'netns', modes: ['none'] } } as ResultFile;
    expect(() => buildHistory('x', [{ source: 'a', result: night(2, 0) }, { source: 'b', result: dns }])).toThrow(/a history is of one scenario/);
    expect(historySeries([{ label: 'a', source: 'a', result: night(2, 0) }, { label: 'b', source: 'b', result: night(3, 0) }])).toHaveLength(2);
  });

  it('renders Markdown with the flags, HTML with a chart and a change line, and JSON', () => {
    const md = renderHistoryMarkdown([h]);
    expect(md).toContain('# History of tcp-syn: 5 runs, 2026-12-01 02:00 UTC – 2026-12-05 02:00 UTC');
    expect(md).toMatch(/\| 4 \| r40000 \| .* \| 6\.19\.2 \| .* \| changed: kernel 6\.18\.44-fc → 6\.19\.2 \|/);
    expect(md).toMatch(/\| 3 \| r30000 \| .* \| none race better than the run before \(2\/60,000 vs 14\/60,000, p = 0\.004181\) \|/);
    expect(md).toMatch(/\| 2 \| reproduced \| 23\.3 \(12\.8–39\.1\) ▲ \|/);
    expect(md).not.toMatch(/<\/?[a-z]+[ >]/);
    const html = renderHistoryHtml([h]);
    expect(html.match(/<line class="change"/g)).toHaveLength(1);
    expect(html).toContain('kernel changed');
    expect(html.match(/<circle class="point"/g)).toHaveLength(10);
    expect(html).not.toMatch(/<script|(src|href)\s*=\s*["']?https?:/i);
    expect(JSON.parse(renderHistoryJson([h])).schema).toBe('repro/history@1');
    expect(renderHistoryMarkdown([buildHistory('tcp-syn', [{ source: 'a', result: night(1, 0) }])])).toContain('# History of tcp-syn: 1 run, ');
  });
});

describe('repro history: reading', () => {
  it('reads result files, result directories and repro run directories through loadResults; groups by scenario or entry', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'repro-history-'));
    try {
      for (const d of [1, 2, 3]) {
        mkdirSync(path.join(dir, 'results', `2026120${d}-tcp-syn-x${d}`), { recursive: true });
        writeFileSync(path.join(dir, 'results', `2026120${d}-tcp-syn-x${d}`, 'result.json'), JSON.stringify(night(d, d)));
      }
      // A nightly's repro run directory: one subdirectory per entry, and summary.json.
      mkdirSync(path.join(dir, 'night', 'tcp-syn-modes'), { recursive: true });
      writeFileSync(path.join(dir, 'night', 'summary.json'), '{}');
      writeFileSync(path.join(dir, 'night', 'tcp-syn-modes', 'result.json'), JSON.stringify(night(4, 4)));
      const inputs = await readHistoryInputs([path.join(dir, 'results'), path.join(dir, 'night')]);
      expect(inputs.map((x) => x.label)).toEqual(['tcp-syn', 'tcp-syn', 'tcp-syn', 'tcp-syn-modes']);
      const md = await historyCommand([path.join(dir, 'results')], 'md');
      expect(md).toContain('# History of tcp-syn: 3 runs');
      writeFileSync(path.join(dir, 'bad.json'), '{"schema":"something else"}');
      await expect(historyCommand([path.join(dir, 'bad.json')], 'md')).rejects.toThrow(/not a repro result/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
