import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { hostSnapshot } from './hostSnapshot.js';
import type { ResultFile } from '../../src/types.js';
import { expectedTcpSynVerdict } from './verdictFromCounters.js';

/**
 * The package as users get it: `npm pack` in the clone (prepack builds the engines and bakes the commit),
 * `npm install -g` of the tarball into a fresh prefix, and the installed `repro` run from a directory that is not
 * the clone, on the Node that runs the tests (first on PATH, as the `#!/usr/bin/env node` of the bin needs).
 */
const gate = capabilityGate();
const docker = dockerGate();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}` };

function sh(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 64 << 20 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  expect(r.error, what).toBeUndefined();
  expect(r.status, `${what}: ${r.stderr.slice(-2000)}`).toBe(0);
  return r.stdout;
}

/** What the tarball's stamp must say: the clone's HEAD, marked when tracked files differ from it. */
function expectedCommit(): string {
  const head = ok(sh('git', ['rev-parse', '--short=12', 'HEAD'], ROOT), 'git rev-parse').trim();
  const dirty = ok(sh('git', ['status', '--porcelain', '--untracked-files=no'], ROOT), 'git status').trim() !== '';
  return dirty ? `${head}-dirty` : head;
}

describe.skipIf(gate.skip)(`the npm package, installed into a fresh prefix${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  let work = '';
  let tarball = '';
  let repro = '';
  let commit = '';

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'repro-package-'));
    commit = expectedCommit();
    ok(sh('npm', ['pack', '--pack-destination', work], ROOT), 'npm pack');
    const tgz = readdirSync(work).filter((f) => /^repro-.+\.tgz$/.test(f));
    expect(tgz).toHaveLength(1);
    tarball = path.join(work, tgz[0] ?? '');
    const prefix = path.join(work, 'prefix');
    ok(sh('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball], work), 'npm install -g');
    repro = path.join(prefix, 'bin', 'repro');
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the compiled CLI, the agents, both engines, the stamp and the scenario schema, and nothing of the sources or tests', () => {
    const files = ok(sh('tar', ['-tzf', tarball], work), 'tar').split('\n').filter((l) => l !== '');
    for (const f of ['dist/cli.js', 'dist/agents/tcp/client.js', 'dist/agents/dns/server.js', 'dist/native/connect_engine.node', 'dist/native/dns_engine.node', 'dist/stamp.json', 'scenarios/schema.json', 'package.json', 'README.md']) {
      expect(files, f).toContain(`package/${f}`);
    }
    const unwanted = files.filter((f) => /\.map$|^package\/(src|test|docker|\.ci|\.github)\/|^package\/dist\/bench\/|buildEngine|prepack\.js/.test(f));
    expect(unwanted).toEqual([]);
  });

  it('repro --version prints the version and the commit it was packed from, outside any clone', () => {
    const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(ok(sh(repro, ['--version'], work), 'repro --version').trim()).toBe(`${version} (${commit})`);
  });

  it('repro completion bash|zsh prints the script whose callback completes the commands', () => {
    const bash = ok(sh(repro, ['completion', 'bash'], work), 'repro completion bash');
    expect(bash).toContain('complete -o bashdefault -o default -F');
    expect(bash).toContain('--get-yargs-completions');
    expect(ok(sh(repro, ['completion', 'zsh'], work), 'repro completion zsh')).toContain('compdef');
    const words = ok(sh(repro, ['--get-yargs-completions', 'repro', ''], work), 'completion callback').split('\n');
    for (const c of ['tcp-syn', 'dns', 'vxlan', 'doctor', 'cleanup']) expect(words.some((w) => w.startsWith(`${c}:`) || w === c), c).toBe(true);
  });

  it('runs tcp-syn on the netns backend from another directory: a verdict, the native engine, results in ./results', () => {
    const before = hostSnapshot();
    const cwd = path.join(work, 'elsewhere');
    mkdirSync(cwd);
    const r = sh(repro, ['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '20000', '--modes', 'none'], cwd);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(r.stderr).toContain('verdict:');
    const runs = readdirSync(path.join(cwd, 'results'));
    expect(runs).toHaveLength(1);
    const result = JSON.parse(readFileSync(path.join(cwd, 'results', runs[0] ?? '', 'result.json'), 'utf8')) as ResultFile;
    expect(result.modes.map((m) => m.mode)).toEqual(['none']);
    const mode = result.modes[0];
    expect(mode?.attempts).toBe(20000);
    expect(mode?.connectPath).toBe('native');
    if (!mode) throw new Error('no mode in the result');
    expect(result.verdict, mode.reason).toBe(expectedTcpSynVerdict(mode));
    expect(result.environment.harness.commit).toBe(commit);
    expect(result.environment.node).toBe(process.version);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);

  it.skipIf(docker.skip)(`runs tcp-syn on the docker backend: the offline image carries the installed package and its dependencies${docker.skip ? ` — skipped: ${docker.reason}` : ''}`, () => {
    const before = hostSnapshot();
    const out = path.join(work, 'docker-run');
    const r = sh(repro, ['tcp-syn', '--load', 'steady', '--backend', 'docker', '--connections', '2000', '--modes', 'none', '--out', out], work);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as ResultFile;
    expect(result.environment.backend).toBe('docker');
    expect(result.modes[0]?.attempts).toBe(2000);
    expect(result.modes[0]?.connectPath).toBe('native');
    const only = result.modes[0];
    if (!only) throw new Error('no mode in the result');
    // On docker the host's background can discount a race count (it is the host's shared table): reproduced, or
    // inconclusive when the background moved the race counter.
    const expected = expectedTcpSynVerdict(only);
    const discounted = expected === 'reproduced' && Object.keys(only.background?.conntrack ?? {}).length > 0 ? ['inconclusive'] : [];
    expect([expected, ...discounted], only.reason).toContain(result.verdict);
    expect(existsSync(path.join(work, 'results'))).toBe(false);
    expect(hostSnapshot()).toEqual(before);
  }, 180_000);
});
