import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ScenarioFileError, parseScenarioFile, trailingCommas } from '../../src/scenarioFile/load.js';
import { cliArgsFor, evaluateRun } from '../../src/scenarioFile/evaluate.js';
import { checkThreshold, parseThreshold, type Threshold } from '../../src/scenarioFile/thresholds.js';
import { summaryJunit, summaryMarkdown } from '../../src/scenarioFile/summary.js';
import { withStatistics } from '../../src/analysis/runStatistics.js';
import { makeResult } from './fixtures/results.js';

function problems(text: string): string[] {
  try {
    parseScenarioFile('f.yaml', text);
  } catch (err) {
    if (err instanceof ScenarioFileError) return err.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

const t = (s: string): Threshold => {
  const x = parseThreshold(s);
  if (typeof x === 'string') throw new Error(x);
  return x;
};

describe('scenario files', () => {
  it('the shipped nightly file is valid', () => {
    const sf = parseScenarioFile('scenarios/nightly.yaml', readFileSync('scenarios/nightly.yaml', 'utf8'));
    expect(sf.name).toBe('nightly');
    expect(sf.runs.map((r) => r.name)).toEqual(['tcp-syn-modes', 'tcp-syn-fin-close']);
    expect(sf.runs[0]?.expectedModes).toEqual(['none', 'random', 'random-fully']);
    expect(cliArgsFor(sf.runs[0]!, 'out/x')).toEqual([
      'tcp-syn', '--backend=netns', '--modes=none,random,random-fully', '--load=steady', '--connections=300000', '--duration=90', '--out=out/x',
    ]);
  });
  it('accepts JSON too, and defaults the backend and modes', () => {
    const sf = parseScenarioFile('f.json', JSON.stringify({ name: 'j', runs: [{ name: 'r', scenario: 'tcp-syn', options: { keepalive: false } }] }));
    expect(sf.runs[0]?.backend).toBe('auto');
    expect(sf.runs[0]?.modes).toBeNull();
    expect(sf.runs[0]?.expectedModes).toEqual(['none', 'random', 'random-fully']);
    expect(cliArgsFor(sf.runs[0]!, 'd')).toEqual(['tcp-syn', '--backend=auto', '--no-keepalive', '--out=d']);
  });
  it('kernel: per run compares kernels side by side in one file (each run in a VM on its kernel, or on the host)', () => {
    const text = [
      'name: kernels', 'runs:',
      '  - name: host', '    scenario: tcp-syn', '    modes: [none, random-fully]',
      '  - name: debian', '    scenario: tcp-syn', '    kernel: debian', '    modes: [none, random-fully]', '    options: { vm-cpus: 2, connections: 20000 }',
    ].join('\n');
    const sf = parseScenarioFile('k.yaml', text);
    expect(sf.runs.map((r) => r.kernel)).toEqual([null, 'debian']);
    expect(cliArgsFor(sf.runs[1]!, 'd')).toEqual([
      'tcp-syn', '--backend=auto', '--kernel=debian', '--modes=none,random-fully', '--vm-cpus=2', '--connections=20000', '--out=d',
    ]);
    expect(problems('name: k\nruns:\n  - name: a\n    scenario: tcp-syn\n    backend: docker\n    kernel: debian\n')).toEqual([
      '5:14 runs[0].backend: a run with kernel: runs the netns backend inside its VM: use backend netns (or auto)',
    ]);
    expect(problems('name: k\nruns:\n  - name: a\n    scenario: dns\n    options: { kernel: debian }\n')[0]).toMatch(/"kernel" is set by the run entry/);
  });
  it('reports schema problems with line and column', () => {
    expect(problems('name: x\nruns:\n  - name: a\n    scenario: udp\n    color: red\n')).toEqual([
      '4:15 runs[0].scenario: must be one of tcp-syn, dns, vxlan',
      '5:5 runs[0].color: unknown property "color"',
    ]);
    expect(problems('name: x\n')).toEqual(['1:1 : missing "runs"']);
    expect(problems('name: [x\n')[0]).toMatch(/^\d+:\d+ : /);
  });
  it('reports option, mode, threshold and name problems at their place', () => {
    const text = [
      'name: x',
      'runs:',
      '  - name: a',
      '    scenario: tcp-syn',
      '    modes: [none, random-fully]',
      '    options:',
      '      bogus: 1',
      '    thresholds:',
      '      none: ["race == 0", "rac == 0", "verdict == fine"]',
      '      random: ["race == 0"]',
      '  - name: a',
      '    scenario: tcp-syn',
      '    options: { connections: 2.5 }',
    ].join('\n');
    const p = problems(text);
    expect(p).toContainEqual(expect.stringMatching(/^7:7 runs\[0\]\.options\.bogus: tcp-syn has no option --bogus/));
    expect(p).toContainEqual(expect.stringMatching(/^9:27 runs\[0\]\.thresholds\.none\[1\]: unknown metric "rac"/));
    expect(p).toContainEqual(expect.stringMatching(/^9:39 runs\[0\]\.thresholds\.none\[2\]: "verdict" is one of reproduced/));
    expect(p).toContainEqual(expect.stringMatching(/^10:7 runs\[0\]\.thresholds\.random: no mode "random" in this run/));
    expect(p).toContainEqual(expect.stringMatching(/^11:11 runs\[1\]\.name: run name "a" is already used/));
    // At the option's value, not at its options block.
    expect(p).toContainEqual(expect.stringMatching(/^13:29 runs\[1\]\.options\.connections: --connections must be a whole number/));
  });

  it('names every problem at once: a run the schema refuses does not hide the others', () => {
    const text = [
      'name: x',
      'runs:',
      '  - name: a',
      '    scenario: tcp-syn',
      '    colour: red',
      '  - name: b',
      '    scenario: dns',
      '    options: { clients: 0 }',
      '  - name: c',
      '    scenario: vxlan',
      '    thresholds: { "*": ["race =< 1"] }',
    ].join('\n');
    const p = problems(text);
    expect(p).toHaveLength(3);
    expect(p[0]).toMatch(/^5:5 runs\[0\]\.colour: unknown property "colour"/);
    expect(p[1]).toMatch(/^8:25 runs\[1\]\.options\.clients: --clients must be a whole number from 1 to 64/);
    expect(p[2]).toMatch(/^11:25 runs\[2\]\.thresholds\.\*\[0\]: /);
  });

  it('holds a .json file to JSON: every trailing comma at its place, and what JSON.parse refuses', () => {
    const text = '{\n  "name": "x",\n  "runs": [\n    { "name": "a", "scenario": "tcp-syn", "modes": ["none",] },\n  ]\n}\n';
    let caught: unknown;
    try {
      parseScenarioFile('f.json', text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ScenarioFileError);
    expect((caught as ScenarioFileError).problems.map((q) => `${q.line}:${q.col} ${q.message}`)).toEqual([
      '4:59 trailing comma: JSON allows none before ] or }',
      '4:63 trailing comma: JSON allows none before ] or }',
    ]);
    // The same text is valid YAML flow style: as .yaml it is accepted.
    expect(parseScenarioFile('f.yaml', text).runs[0]?.modes).toEqual(['none']);
    // A comma inside a string is no trailing comma; a JSON-only fault gets JSON.parse's place.
    expect(trailingCommas('{"a": ",]", "b": [1]}')).toEqual([]);
    expect(() => parseScenarioFile('g.json', "{'name': 'x', 'runs': []}")).toThrow(/g\.json:1:2: not valid JSON/);
  });
});

describe('thresholds', () => {
  const r = withStatistics(makeResult([{ mode: 'none', attempts: 60_000, race: 8 }, { mode: 'random-fully', attempts: 60_000 }]));
  const none = r.modes[0]!;
  const fully = r.modes[1]!;
  const cmp = r.comparisons ?? [];
  it('parses and rejects expressions', () => {
    expect(parseThreshold('race == 0')).toEqual({ source: 'race == 0', metric: 'race', op: '==', value: 0 });
    expect(parseThreshold('race_vs_baseline == no difference')).toMatchObject({ value: 'no-difference' });
    expect(parseThreshold('verdict < reproduced')).toMatch(/only be compared with == or !=/);
    expect(parseThreshold('race == lots')).toMatch(/is a number/);
    expect(parseThreshold('stalls_3s_per_100k_upper < 1')).toMatchObject({ metric: 'stalls_3s_per_100k_upper' });
  });
  it('checks counts, rates, bounds, verdicts and comparisons', () => {
    expect(checkThreshold(t('verdict == reproduced'), none, cmp).ok).toBe(true);
    expect(checkThreshold(t('race > 0'), none, cmp)).toMatchObject({ ok: true, actual: 8 });
    expect(checkThreshold(t('race_per_100k < 10'), none, cmp)).toMatchObject({ ok: false, actual: 13.33, message: 'race_per_100k = 13.33, expected < 10' });
    expect(checkThreshold(t('race_per_100k_upper < 7'), fully, cmp)).toMatchObject({ ok: true, actual: 6.148 });
    expect(checkThreshold(t('race_vs_baseline == better'), fully, cmp).ok).toBe(true);
    expect(checkThreshold(t('race_vs_baseline == better'), none, cmp)).toMatchObject({ ok: false, actual: null });
    expect(checkThreshold(t('clashres == 0'), none, cmp).ok).toBe(true);
    expect(checkThreshold(t('failed_pct < 0.1'), none, cmp).ok).toBe(true);
  });
  it('evaluates a run, "*" meaning every mode, and renders JUnit and Markdown', () => {
    const sf = parseScenarioFile('f.yaml', 'name: n\nruns:\n  - name: r\n    scenario: tcp-syn\n    modes: [none, random-fully]\n    thresholds:\n      none: ["race > 0"]\n      "*": ["race == 0"]\n');
    const o = evaluateRun(sf.runs[0]!, r, { dir: 'r', durationSec: 12, exitCode: 0, error: null });
    expect(o.thresholds.map((x) => [x.mode, x.threshold, x.ok])).toEqual([
      ['none', 'race > 0', true],
      ['none', 'race == 0', false],
      ['random-fully', 'race == 0', true],
    ]);
    expect(o.ok).toBe(false);
    const missing = evaluateRun(sf.runs[0]!, null, { dir: 'r', durationSec: 1, exitCode: 2, error: 'repro tcp-syn exited with code 2' });
    const summary = { schema: 'repro/run-summary@1' as const, file: 'f.yaml', name: 'n', startedAt: 'a', finishedAt: 'b', ok: false, runs: [o, missing] };
    const xml = summaryJunit(summary);
    expect(xml).toContain('<testsuites name="repro n" tests="4" failures="1" errors="1"');
    expect(xml).toContain('<testcase classname="repro.n.r.none" name="race &gt; 0" time="0.0">');
    expect(xml).toMatch(/<failure message="none: race == 0 failed: race = 8, expected == 0" type="threshold">/);
    expect(xml).toContain('<error message="repro tcp-syn exited with code 2 (exit code 2)" type="run">');
    expect(summaryMarkdown(summary)).toMatch(/^# repro run n: FAIL/);
  });
});
