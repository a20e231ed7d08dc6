/**
 * The nightly workflow's history step, run as GitHub would run it (bash -e, the job's env) against a local
 * repository standing in for origin: it keeps the last KEEP nights' result files on the nightly-history branch and
 * publishes `repro history` over them. The installed CLI is this build's dist/cli.js. No root needed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CLI } from './cli.js';
import { makeResult } from '../unit/fixtures/results.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'repro-nightly-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Step { name?: string; run?: string }

function historyScript(): string {
  const wf = parse(readFileSync(path.join(ROOT, '.github/workflows/nightly.yml'), 'utf8')) as { jobs: Record<string, { steps: Step[]; env: Record<string, string> }> };
  const step = Object.values(wf.jobs).flatMap((j) => j.steps).find((s) => s.name?.startsWith('History'));
  if (!step?.run) throw new Error('nightly.yml has no History step');
  return step.run;
}

function sh(cwd: string, cmd: string, env: Record<string, string> = {}): string {
  const r = spawnSync('bash', ['-c', cmd], { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('nightly.yml: the history step', () => {
  it('keeps the last KEEP nights on nightly-history and publishes their history', () => {
    const origin = path.join(work, 'origin.git');
    const clone = path.join(work, 'clone');
    sh(work, `git init -q --bare ${origin} && git init -q ${clone} && cd ${clone} && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m init && git remote add origin ${origin} && git push -q origin HEAD:main`);
    const bin = path.join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'repro'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(path.join(bin, 'repro'), 0o755);
    const script = path.join(work, 'history.sh');
    writeFileSync(script, historyScript());
    const summary = path.join(work, 'summary.md');
    for (const night of [1, 2, 3]) {
      // A `repro run` results directory as the nightly leaves it: summary.json, one directory per entry.
      const results = path.join(clone, 'results', `nightly-${night}`);
      mkdirSync(path.join(results, 'tcp-syn-modes'), { recursive: true });
      writeFileSync(path.join(results, 'summary.json'), '{}');
      const r = makeResult([{ mode: 'none', attempts: 60_000, race: night === 3 ? 14 : 2 }, { mode: 'random-fully', attempts: 60_000 }],
        night === 3 ? { kernel: '6.19.2', kernelVersion: '6.19.2' } : {});
      r.runId = `n${night}0000`;
      r.startedAt = `2026-12-0${night}T03:17:00.000Z`;
      writeFileSync(path.join(results, 'tcp-syn-modes', 'result.json'), JSON.stringify(r));
      writeFileSync(path.join(results, 'tcp-syn-modes', 'repro-tcp-syn-x.html'), '<html>not kept</html>');
      sh(clone, `bash -e ${script}`, {
        PATH: `${bin}:${process.env['PATH'] ?? ''}`, RESULTS: results, HISTORY: 'nightly-history', KEEP: '2',
        GITHUB_RUN_ID: String(1000 + night), GITHUB_STEP_SUMMARY: summary,
      });
      sh(clone, 'git worktree remove --force nightly-history');
    }
    const check = path.join(work, 'check');
    sh(work, `git clone -q --branch nightly-history ${origin} ${check}`);
    const nights = readdirSync(path.join(check, 'runs')).sort();
    expect(nights.map((n) => n.replace(/^\d{8}T\d{6}Z-/, ''))).toEqual(['1002', '1003']);
    for (const n of nights) {
      expect(existsSync(path.join(check, 'runs', n, 'tcp-syn-modes', 'result.json'))).toBe(true);
      expect(existsSync(path.join(check, 'runs', n, 'tcp-syn-modes', 'repro-tcp-syn-x.html'))).toBe(false);
    }
    const md = readFileSync(path.join(check, 'history.md'), 'utf8');
    expect(md).toContain('# History of tcp-syn-modes (tcp-syn): 2 runs');
    expect(md).toContain('changed: kernel 6.18.44-fc → 6.19.2');
    expect(readFileSync(path.join(check, 'index.html'), 'utf8')).toContain('<svg');
    expect(readFileSync(summary, 'utf8').match(/^# History of/gm)).toHaveLength(3);
    expect(sh(check, 'git log --format=%s')).toMatch(/^nightly 1003: 2 nights kept\nnightly 1002: 2 nights kept\nnightly 1001: 1 nights kept\n$/);
  }, 60_000);
});
