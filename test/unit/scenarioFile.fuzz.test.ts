import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { rng } from '../random.js';
import { ScenarioFileError, parseScenarioFile } from '../../src/scenarioFile/load.js';
import { UserError } from '../../src/errors.js';

/**
 * The scenario-file parser under random input: mutations of the shipped nightly file (characters dropped,
 * duplicated, swapped, replaced by YAML's own syntax) and random token soup. Every input must either parse,
 * or be refused with a ScenarioFileError whose problems carry a line, a column and a one-line message:
 * never a crash, never another kind of error.
 */
const NIGHTLY = readFileSync('scenarios/nightly.yaml', 'utf8');
const SYNTAX = [':', '-', ' ', '\n', '  ', '[', ']', '{', '}', ',', '"', "'", '#', '&a', '*a', '!!int', '|', '>', '?', '%', '@', '\t', '0', '-1', '1e9', 'null', 'true', 'tcp-syn', 'dns', 'modes', 'runs', 'thresholds', 'race == 0', '<<', '💥'];

function mutate(text: string, next: () => number): string {
  const chars = [...text];
  const edits = 1 + Math.floor(next() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(next() * chars.length);
    const op = next();
    if (op < 0.3) chars.splice(at, 1 + Math.floor(next() * 8));
    else if (op < 0.6) chars.splice(at, 0, SYNTAX[Math.floor(next() * SYNTAX.length)] ?? '');
    else if (op < 0.8) chars.splice(at, 0, ...chars.slice(at, at + Math.floor(next() * 40)));
    else {
      const other = Math.floor(next() * chars.length);
      [chars[at], chars[other]] = [chars[other] ?? '', chars[at] ?? ''];
    }
  }
  return chars.join('');
}

function soup(next: () => number): string {
  return Array.from({ length: 1 + Math.floor(next() * 60) }, () => SYNTAX[Math.floor(next() * SYNTAX.length)] ?? '').join('');
}

describe('parseScenarioFile under random input', () => {
  it('parses or refuses with placed, one-line problems — never crashes', () => {
    const next = rng(42);
    let parsed = 0;
    let refused = 0;
    for (let i = 0; i < 1500; i++) {
      const name = next() < 0.5 ? 'fuzz.yaml' : 'fuzz.json';
      const text = i % 3 === 0 ? soup(next) : mutate(NIGHTLY, next);
      try {
        const sf = parseScenarioFile(name, text);
        parsed++;
        expect(sf.runs.length, `case ${i}`).toBeGreaterThan(0);
        for (const r of sf.runs) expect(['tcp-syn', 'dns', 'vxlan']).toContain(r.scenario);
      } catch (err) {
        refused++;
        expect(err, `case ${i}: ${JSON.stringify(text.slice(0, 200))}`).toBeInstanceOf(ScenarioFileError);
        expect(err).toBeInstanceOf(UserError);
        const problems = (err as ScenarioFileError).problems;
        expect(problems.length, `case ${i}`).toBeGreaterThan(0);
        for (const p of problems) {
          expect(Number.isInteger(p.line) && p.line >= 1, `case ${i} line`).toBe(true);
          expect(Number.isInteger(p.col) && p.col >= 1, `case ${i} col`).toBe(true);
          expect(p.message).not.toContain('\n');
        }
      }
    }
    expect(parsed).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(500);
  });
});
