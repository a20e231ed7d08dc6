import { describe, expect, it } from 'vitest';
import { yargsMessage } from '../../src/commands/cliVoice.js';
import { modesCompletion } from '../../src/commands/completion.js';

const COMMANDS = ['tcp-syn', 'audit', 'diff'];

describe("yargs' messages in the project's voice", () => {
  it('quotes what was typed after an option that needs a value', () => {
    expect(yargsMessage('Not enough arguments following: pid', ['audit', '--pid'], COMMANDS)).toBe('--pid needs a value, and nothing follows it');
    expect(yargsMessage('Not enough arguments following: clients', ['tcp-syn', '--clients', '--json'], COMMANDS)).toBe('--clients needs a value, got the option "--json"');
  });
  it('names the missing positionals, the unknown option, the allowed choices, on one line', () => {
    expect(yargsMessage('Not enough non-option arguments: got 1, need at least 2', ['diff', 'a.json'], COMMANDS)).toBe('repro diff needs 2 arguments, got 1 (see repro diff --help)');
    expect(yargsMessage('Unknown arguments: frob, x', ['audit', '--frob=1', '-x'], COMMANDS)).toBe('repro audit has no options "--frob", "-x" (see repro audit --help)');
    expect(yargsMessage('Invalid values:\n  Argument: fail-on, Given: "low", Choices: "high", "never"', ['audit', '--fail-on', 'low'], COMMANDS)).toBe('--fail-on "low": choose high or never');
    expect(yargsMessage('Unknown argument: nope', ['nope'], COMMANDS)).toBe('unknown command "nope" (commands: tcp-syn, audit, diff)');
    expect(yargsMessage('Did you mean diff?', ['dif'], COMMANDS)).toBe('unknown command "dif": did you mean diff? (see repro --help)');
    expect(yargsMessage('something\nelse', [], COMMANDS)).toBe('something else');
  });
});

describe('--modes completion', () => {
  it('offers the modes not yet in the comma list, after it', () => {
    expect(modesCompletion('tcp-syn', '')).toEqual(['none', 'random', 'random-fully']);
    expect(modesCompletion('tcp-syn', 'none,ra')).toEqual(['none,random', 'none,random-fully']);
    expect(modesCompletion('vxlan', '')).toContain('legacy+none+offload-off');
  });
});
