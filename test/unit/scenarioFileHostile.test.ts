import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { ScenarioFileError, parseScenarioFile } from '../../src/scenarioFile/load.js';
import { cliArgsFor } from '../../src/scenarioFile/evaluate.js';
import { parseThreshold } from '../../src/scenarioFile/thresholds.js';
import { commonFlags } from '../../src/commands/scenarioCommand.js';
import { SCENARIOS } from '../../src/scenarios/registry.js';

const problems = (text: string): string[] => {
  try {
    parseScenarioFile('f.yaml', text);
    return [];
  } catch (err) {
    if (!(err instanceof ScenarioFileError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
};

describe('scenario files written to mislead', () => {
  it('an option named after an Object property (constructor, toString) is no option', () => {
    for (const k of ['constructor', 'toString', 'hasOwnProperty']) {
      expect(problems(`name: n\nruns:\n  - name: a\n    scenario: tcp-syn\n    options: { ${k}: 1 }\n`)[0]).toMatch(new RegExp(`^runs\\[0\\]\\.options\\.${k}: tcp-syn has no option --${k} `));
    }
  });

  it('a value that looks like an option stays the value of its own flag in the child run', () => {
    const sf = parseScenarioFile('f.yaml', 'name: n\nruns:\n  - name: a\n    scenario: tcp-syn\n    backend: docker\n    options: { image: "--kernel=/tmp/evil.deb" }\n');
    const args = cliArgsFor(sf.runs[0]!, 'out/a');
    // The child's own parser, built from the same flag table as the CLI.
    const s = SCENARIOS['tcp-syn'];
    const argv = yargs(args.slice(1)).options({ ...commonFlags(s), ...s.flags }).strict(false).parseSync();
    expect(argv['image']).toBe('--kernel=/tmp/evil.deb');
    expect(argv['kernel']).toBeUndefined();
    expect(argv['out']).toBe('out/a');
  });

  it('a threshold expression is at most 256 characters (the expression regex is quadratic in spaces)', () => {
    expect(parseThreshold(`race ==${' '.repeat(20_000)}x`)).toBe('a threshold is at most 256 characters; this one has 20008');
    expect(problems(`name: n\nruns:\n  - name: a\n    scenario: tcp-syn\n    thresholds: { none: ["race == 0${' '.repeat(300)}"] }\n`)).toEqual([
      'runs[0].thresholds.none[0]: must NOT have more than 256 characters',
    ]);
  });
});
