/**
 * tcp-syn's default runs two phases into one result: burst (is the rule vulnerable) then steady (how often a storm
 * hits it). Synthetic results here; the real run is test/integration/defaultRun.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { makeMode, makeResult } from './fixtures/results.js';
import { burstReading } from '../../src/scenarios/tcpSyn/analyze.js';
import { provokedBounds, runVerdict, vulnerability } from '../../src/analysis/verdict.js';
import { answerLine, entryLabel, modeAnswers } from '../../src/analysis/answers.js';
import { withStatistics } from '../../src/analysis/runStatistics.js';
import { buildReportModel } from '../../src/report/reportModel.js';
import { renderTerminal } from '../../src/report/terminal.js';
import { diffResults } from '../../src/analysis/diff.js';
import { keyCovers, parseThreshold, checkThreshold, type Threshold } from '../../src/scenarioFile/thresholds.js';
import type { ModeResult, ResultFile } from '../../src/types.js';

const burst = (mode: string, race: number): ModeResult => {
  const m = makeMode({ mode, attempts: 10_000, race });
  return burstReading({ ...m, attribution: { ...m.attribution, stalled: race, raceStalled: race } }, 50);
};
const steady = (mode: string, race: number): ModeResult => {
  const m = makeMode({ mode, attempts: 30_000, race });
  return { ...m, verdict: race > 0 ? 'reproduced' : 'not-reproduced', load: 'steady', attribution: { ...m.attribution, stalled: race, raceStalled: race } };
};

/** A default run's result: none raced 1 862 times in 10 000 provoked connects and once in 30 000 steady ones. */
function twoPhase(fullyBurst = 0): ResultFile {
  const base = makeResult([]);
  const modes = [burst('none', 1862), burst('random-fully', fullyBurst), steady('none', 1), steady('random-fully', 0)];
  const r = { ...base, modes, verdict: runVerdict(modes) } as ResultFile;
  if (r.scenario === 'tcp-syn') r.config = { ...r.config, load: 'both', burstPhase: { clients: 2, connections: 10_000, detectRatePer100k: 50 }, burstPorts: [10_000, 32_767] };
  return withStatistics({ ...r, answers: modeAnswers(r) });
}

describe('the burst phase verdict: is the provoked rate above the detect rate (one-sided 95 % each way)', () => {
  it('matches exact Poisson bounds (R: qchisq(0.05, 2k) / 2 and qchisq(0.95, 2k + 2) / 2)', () => {
    // 0 in 10 000: -ln(0.05) = 2.995732 -> 29.96 per 100 000.
    expect(provokedBounds(0, 10_000).upper).toBeCloseTo(29.957, 2);
    // 1 in 10 000: qchisq(0.95, 4) / 2 = 4.743865 -> 47.44: below 50, not vulnerable despite the one drop.
    expect(provokedBounds(1, 10_000).upper).toBeCloseTo(47.439, 2);
    expect(vulnerability(1, 10_000, 50)).toBe('not-vulnerable');
    // 2 in 10 000: qchisq(0.95, 6) / 2 = 6.295794 -> 62.96: 50 not ruled out.
    expect(vulnerability(2, 10_000, 50)).toBe('inconclusive');
    // 9: qchisq(0.05, 18) / 2 = 4.695412 -> 46.95 (not above 50); 10: qchisq(0.05, 20) / 2 = 5.425406 -> 54.25.
    expect(provokedBounds(10, 10_000).lower).toBeCloseTo(54.254, 2);
    expect(vulnerability(9, 10_000, 50)).toBe('inconclusive');
    expect(vulnerability(10, 10_000, 50)).toBe('vulnerable');
    expect(vulnerability(1862, 10_000, 50)).toBe('vulnerable');
  });

  it('an invalid mode stays invalid (its counts do not say what the rule does)', () => {
    const m = makeMode({ mode: 'none', attempts: 10_000, race: 500 });
    expect(burstReading({ ...m, verdict: 'invalid' }, 50).verdict).toBe('invalid');
  });
});

describe('a two-phase result', () => {
  it("answers per mode: vulnerable with the provoked rate and its interval, not vulnerable with the bound, the storm's k in n", () => {
    const r = twoPhase();
    expect(r.verdict).toBe('vulnerable');
    const [none, fully] = r.answers ?? [];
    expect(none?.vulnerable).toMatchObject({ verdict: 'vulnerable', k: 1862, n: 10_000, per100k: 18_620 });
    expect(none?.steady).toMatchObject({ verdict: 'reproduced', k: 1, n: 30_000 });
    expect(fully?.vulnerable).toMatchObject({ verdict: 'not-vulnerable', k: 0, ruledOutAbove: 30 });
    expect(answerLine(none!)).toMatch(/^MASQUERADE without a flag: VULNERABLE — 18,620 race drops per 100 000 provoked connects \(1,862 in 10,000, two-sided 95 % CI 1\d,\d{3}–1\d,\d{3}\); under a steady storm: reproduced — 1 in 30,000 connects/);
    expect(answerLine(fully!)).toBe(
      'MASQUERADE --random-fully: not vulnerable — no race drop in 10,000 provoked connects (below 30 per 100 000, one-sided 95 %); ' +
        'under a steady storm: not-reproduced — 0 in 30,000 connects lost a SYN to the race (0 per 100 000, two-sided 95 % CI 0–12.3)',
    );
    // One random-fully drop in 10 000 provoked: still bounded below the 50 asked.
    expect(twoPhase(1).answers?.[1]?.vulnerable).toMatchObject({ verdict: 'not-vulnerable', k: 1, ruledOutAbove: 47 });
  });

  it('compares modes within a phase only, and the headline takes the phase that settles it, named', () => {
    const r = twoPhase();
    const race = (r.comparisons ?? []).filter((c) => c.metric === 'race');
    expect(race.map((c) => [c.load, c.baseline, c.candidate, c.baselineAttempts])).toEqual([
      ['burst', 'none', 'random-fully', 10_000],
      ['steady', 'none', 'random-fully', 30_000],
    ]);
    expect(race[0]?.verdict).toBe('better');
    expect(race[1]?.verdict).toBe('inconclusive');
    const model = buildReportModel(r);
    expect(model.headline).toMatch(/^VULNERABLE: MASQUERADE without a flag is vulnerable \(18,620 race drops per 100 000 provoked connects\); MASQUERADE --random-fully is not vulnerable \(below 30 per 100 000 provoked, one-sided 95 %\); MASQUERADE --random-fully is better than MASQUERADE without a flag \(burst phase, p < 1e-300\)/);
    expect(model.comparisonLines).toHaveLength(1);
    expect(model.comparisonLines[0]).toMatch(/^random-fully vs none \(burst phase\): better — burst phase: /);
    expect(model.summary.header).toEqual(['', 'none (burst)', 'random-fully (burst)', 'none (steady)', 'random-fully (steady)']);
    const text = renderTerminal(r);
    expect(text).toMatch(/\nMASQUERADE without a flag: VULNERABLE — .*\nMASQUERADE --random-fully: not vulnerable — .*\n\nverdict: VULNERABLE$/);
  });

  it('the run verdict answers the first question; a steady reproduction proves the rule vulnerable too', () => {
    expect(runVerdict([{ verdict: 'not-vulnerable', load: 'burst' }, { verdict: 'not-reproduced', load: 'steady' }])).toBe('not-vulnerable');
    expect(runVerdict([{ verdict: 'inconclusive', load: 'burst' }, { verdict: 'reproduced', load: 'steady' }])).toBe('vulnerable');
    expect(runVerdict([{ verdict: 'reproduced', load: 'steady' }, { verdict: 'not-reproduced', load: 'steady' }])).toBe('reproduced');
  });

  it('thresholds: none@burst is the burst entry, none both; verdict words of both phases are known', () => {
    const r = twoPhase();
    const [b, , s] = r.modes;
    expect(keyCovers('none@burst', b!)).toBe(true);
    expect(keyCovers('none@burst', s!)).toBe(false);
    expect(keyCovers('none', s!)).toBe(true);
    expect(keyCovers('none@later', b!)).toBe(false);
    const t = parseThreshold('verdict == vulnerable') as Threshold;
    expect(checkThreshold(t, b!, r.comparisons ?? [], 'none@burst')).toMatchObject({ ok: true, mode: 'none@burst' });
    expect(checkThreshold(t, s!, r.comparisons ?? []).ok).toBe(false);
    const cmp = parseThreshold('race_vs_baseline == better') as Threshold;
    // random-fully's burst entry takes the burst comparison, its steady entry the steady one.
    expect(checkThreshold(cmp, r.modes[1]!, r.comparisons ?? []).actual).toBe('better');
    expect(checkThreshold(cmp, r.modes[3]!, r.comparisons ?? []).actual).toBe('inconclusive');
  });

  it('repro diff pairs each entry with the same mode in the same phase (an older steady-only file with the steady phase)', () => {
    const old = withStatistics(makeResult([{ mode: 'none', attempts: 150_000, race: 3 }, { mode: 'random-fully', attempts: 150_000 }]));
    const d = diffResults([{ label: 'x', result: old }], [{ label: 'x', result: twoPhase() }], { failOnWorse: [] });
    const modes = d.runs[0]?.modes ?? [];
    expect(modes.map((m) => [m.mode, m.presence])).toEqual([
      ['none (steady)', 'both'], ['random-fully (steady)', 'both'], ['none (burst)', 'new-only'], ['random-fully (burst)', 'new-only'],
    ]);
    expect(modes[0]?.attempts).toEqual({ old: 150_000, new: 30_000 });
    expect(entryLabel(old, old.modes[0]!)).toBe('none');
  });
});
