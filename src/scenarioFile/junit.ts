import { escapeXml } from '../report/svgCharts.js';

/** One threshold checked (or a run that could not be checked), as a JUnit test case. */
export interface JunitCase {
  /** e.g. repro.nightly.tcp-syn-rst.none */
  classname: string;
  /** The threshold expression, or "run" for the run itself. */
  name: string;
  timeSec: number;
  failure?: string;
  /** The run did not produce a result (exit code, missing file): a JUnit error rather than a failure. */
  error?: string;
  /** Free text shown by CI systems beside the case (the measured value). */
  output?: string;
}

export interface JunitSuite {
  name: string;
  timeSec: number;
  cases: JunitCase[];
}

/** Pure: JUnit XML (the common Ant/Surefire dialect CI systems read) for the thresholds of a `repro run`. */
export function renderJunit(name: string, suites: readonly JunitSuite[]): string {
  const count = (f: (c: JunitCase) => boolean): number => suites.reduce((s, x) => s + x.cases.filter(f).length, 0);
  const attr = (s: string): string => escapeXml(s).replace(/\n/g, '&#10;');
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${attr(name)}" tests="${count(() => true)}" failures="${count((c) => c.failure !== undefined)}" errors="${count((c) => c.error !== undefined)}" time="${suites.reduce((s, x) => s + x.timeSec, 0).toFixed(1)}">`,
  ];
  for (const s of suites) {
    const failures = s.cases.filter((c) => c.failure !== undefined).length;
    const errors = s.cases.filter((c) => c.error !== undefined).length;
    lines.push(`  <testsuite name="${attr(s.name)}" tests="${s.cases.length}" failures="${failures}" errors="${errors}" skipped="0" time="${s.timeSec.toFixed(1)}">`);
    for (const c of s.cases) {
      const open = `    <testcase classname="${attr(c.classname)}" name="${attr(c.name)}" time="${c.timeSec.toFixed(1)}"`;
      const body: string[] = [];
      if (c.failure !== undefined) body.push(`      <failure message="${attr(c.failure)}" type="threshold">${escapeXml(c.failure)}</failure>`);
      if (c.error !== undefined) body.push(`      <error message="${attr(c.error)}" type="run">${escapeXml(c.error)}</error>`);
      if (c.output !== undefined) body.push(`      <system-out>${escapeXml(c.output)}</system-out>`);
      lines.push(body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`);
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}
