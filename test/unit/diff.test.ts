import { describe, expect, it } from 'vitest';
import { diffResults } from '../../src/analysis/diff.js';
import { renderDiff } from '../../src/report/diffText.js';
import { makeResult } from './fixtures/results.js';
import { fromUname } from './fixtures/distroKernels.js';

const OLD = makeResult([
  { mode: 'none', attempts: 60_000, race: 2 },
  { mode: 'random-fully', attempts: 60_000 },
]);
const WORSE = makeResult([
  { mode: 'none', attempts: 60_000, race: 14 },
  { mode: 'random-fully', attempts: 60_000 },
]);

describe('repro diff', () => {
  it('finds a significant change per mode with the exact test and fails the threshold', () => {
    const d = diffResults([{ label: 'tcp-syn', result: OLD }], [{ label: 'tcp-syn', result: WORSE }], { failOnWorse: ['race'] });
    expect(d.runs).toHaveLength(1);
    const none = d.runs[0]?.modes.find((m) => m.mode === 'none');
    const race = none?.metrics.find((c) => c.metric === 'race');
    expect(race?.verdict).toBe('worse');
    expect(race?.rateRatio.estimate).toBe(7);
    // binom.test(14, 16, 0.5): p = 0.0042
    expect(race?.pValue).toBeCloseTo(0.004181, 5);
    // 0 vs 0 in 60 000 each: inconclusive, and more attempts of the same load would not settle it.
    const fully = d.runs[0]?.modes.find((m) => m.mode === 'random-fully')?.metrics.find((c) => c.metric === 'race');
    expect(fully?.verdict).toBe('inconclusive');
    expect(fully?.attemptsToSettle).toBeNull();
    expect(fully?.settleHint).toContain('--load burst');
    expect(d.failures).toHaveLength(1);
    expect(d.failures[0]).toMatch(/^tcp-syn none: race is significantly worse/);
    expect(d.runs[0]?.caveats).toEqual([]);
    const text = renderDiff(d);
    expect(text).toContain('FAIL: 1 threshold(s) crossed');
    expect(text).toMatch(/none\s+race\s+2\/60,000\s+14\/60,000\s+x7 \(1\.\d+–\d+\.?\d*\)\s+0\.0042\s+worse/);
    expect(text).toMatch(/verdict\s+reproduced\s+reproduced/);
  });
  it('the other direction is better and crosses nothing; --fail-on-worse never ignores worse', () => {
    const d = diffResults([{ label: 'tcp-syn', result: WORSE }], [{ label: 'tcp-syn', result: OLD }], { failOnWorse: ['race'] });
    expect(d.runs[0]?.modes[0]?.metrics[0]?.verdict).toBe('better');
    expect(d.failures).toEqual([]);
    expect(renderDiff(d)).toContain('ok: no threshold crossed');
    expect(diffResults([{ label: 'tcp-syn', result: OLD }], [{ label: 'tcp-syn', result: WORSE }], { failOnWorse: [] }).failures).toEqual([]);
  });
  it('says when kernels, backends or modes differ, and lists unmatched runs', () => {
    const other = makeResult([{ mode: 'none', attempts: 30_000, race: 1 }, { mode: 'random', attempts: 30_000 }], { kernel: '5.10.0-28-amd64', kernelVersion: fromUname('5.10.0'), backend: 'docker' });
    const d = diffResults(
      [{ label: 'a', result: OLD }, { label: 'b', result: OLD }],
      [{ label: 'a', result: other }],
      { failOnWorse: ['race'] },
    );
    expect(d.runs[0]?.caveats.join('\n')).toMatch(/kernel differs: 6\.18\.44-fc \(old\) vs 5\.10\.0-28-amd64 \(new\)/);
    expect(d.runs[0]?.caveats.join('\n')).toMatch(/backend differs: netns \(old\) vs docker \(new\)/);
    expect(d.runs[0]?.modes.map((m) => [m.mode, m.presence])).toEqual([
      ['none', 'both'],
      ['random-fully', 'old-only'],
      ['random', 'new-only'],
    ]);
    expect(d.unmatched).toEqual({ old: ['b'], new: [] });
    expect(renderDiff(d)).toContain('only in old: b');
  });
});
