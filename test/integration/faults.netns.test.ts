import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';
import type { ResultFile } from '../../src/types.js';

const gate = capabilityGate();

/** A conntrack entry of somebody else's flow (TEST-NET-2 addresses: no packet is ever sent), to prove the
 * harness deletes only its own subnets' entries. */
const FOREIGN = ['-p', 'tcp', '-s', '198.51.100.1', '-d', '198.51.100.2', '--sport', '11111', '--dport', '22222'];
function insertForeignEntry(): void {
  execFileSync('conntrack', ['-I', ...FOREIGN, '-r', '198.51.100.2', '-q', '198.51.100.1', '--reply-port-src', '22222',
    '--reply-port-dst', '11111', '--state', 'ESTABLISHED', '-t', '600', '-u', 'SEEN_REPLY'], { stdio: 'ignore' });
}
function foreignEntryPresent(): boolean {
  const r = spawnSync('conntrack', ['-L', ...FOREIGN], { encoding: 'utf8' });
  return /src=198\.51\.100\.1 dst=198\.51\.100\.2 sport=11111/.test(r.stdout);
}
function deleteForeignEntry(): void {
  spawnSync('conntrack', ['-D', ...FOREIGN], { stdio: 'ignore' });
}

/** Run tcp-syn and send `signal` when stderr first matches `when`; returns the run and its result.json (if any). */
async function interrupted(when: RegExp, signals: NodeJS.Signals[]) {
  const out = mkdtempSync(path.join(tmpdir(), 'repro-fault-'));
  let sent = 0;
  const r = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '400000', '--duration', '60', '--out', out], (text, child) => {
    if (sent === 0 && when.test(text)) {
      // Signals of one kind sent back to back can merge into one delivery: space them out.
      signals.forEach((s, i) => setTimeout(() => child.kill(s), i * 400));
      sent = signals.length;
    }
  });
  const file = path.join(out, 'result.json');
  const result = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ResultFile) : null;
  rmSync(out, { recursive: true, force: true });
  return { r, sent, result };
}

describe.skipIf(gate.skip)(`faults: signals in every phase, a stuck agent, the host's own conntrack entries${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('SIGINT while the topology is being built: torn down, partial result marked interrupted', async () => {
    const before = hostSnapshot();
    const { r, sent, result } = await interrupted(/· topology:/, ['SIGINT']);
    expect(sent).toBe(1);
    expect(r.code).toBe(130);
    expect(result?.interrupted).toBe(true);
    expect(result?.modes).toEqual([]);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);

  it('SIGTERM with the rules installed, before the load: torn down, partial result marked interrupted', async () => {
    const before = hostSnapshot();
    const { r, sent, result } = await interrupted(/· mode none:/, ['SIGTERM']);
    expect(sent).toBe(1);
    expect(r.code).toBe(130);
    expect(result?.interrupted).toBe(true);
    expect(result?.modes.length ?? 0).toBeLessThanOrEqual(1);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);

  it('a second Ctrl-C exits at once after a best-effort cleanup of its own run', async () => {
    const before = hostSnapshot();
    const t0 = Date.now();
    const { r, sent } = await interrupted(/\b\d[\d,]* attempts\b/, ['SIGINT', 'SIGINT']);
    expect(sent).toBe(2);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/again: best-effort cleanup of run [0-9a-f]{6}/);
    expect(Date.now() - t0).toBeLessThan(60_000);
    // The agents it started may need a moment to notice their closed stdin.
    await new Promise((res) => setTimeout(res, 1500));
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);

  it('a stuck client agent cannot hang the run: the watchdog stops it, says so, and leaves nothing', async () => {
    const before = hostSnapshot();
    let stopped = false;
    const r = await runCli(
      ['tcp-syn', '--load', 'steady', '--backend', 'netns', '--modes', 'none', '--connections', '400000', '--duration', '3', '--connect-timeout', '1000'],
      (text) => {
        const id = /\(run ([0-9a-f]{6})\)/.exec(text)?.[1];
        if (!stopped && id && /\b\d[\d,]* attempts\b/.test(text)) {
          // Freeze every process of the first client namespace: its agent will never report.
          const pids = spawnSync('ip', ['netns', 'pids', `repro-${id}-c0`], { encoding: 'utf8' }).stdout.split('\n').filter((p) => p !== '');
          for (const pid of pids) process.kill(Number(pid), 'SIGSTOP');
          stopped = pids.length > 0;
        }
      },
    );
    expect(stopped).toBe(true);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/watchdog: client agent 0 gave no result within 19 s/);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^repro: watchdog/);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);

  it('one run at a time: a second invocation names the holder of the lock and exits 2, creating nothing', async () => {
    const before = hostSnapshot();
    let second: Awaited<ReturnType<typeof runCli>> | null = null;
    let started = false;
    const first = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '400000', '--duration', '60'], (text, child) => {
      if (!started && /\b\d[\d,]* attempts\b/.test(text)) {
        started = true;
        const during = hostSnapshot();
        void runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '1000']).then((r) => {
          second = r;
          // The refused run created nothing: the host is as the first run made it.
          expect(hostSnapshot().netns).toEqual(during.netns);
          child.kill('SIGINT');
        });
      }
    });
    expect(started).toBe(true);
    expect(first.code).toBe(130);
    const r = second as Awaited<ReturnType<typeof runCli>> | null;
    expect(r?.code).toBe(2);
    expect(r?.stderr.trim().split('\n')).toHaveLength(1);
    expect(r?.stderr).toMatch(/another repro run holds \/run\/repro\/lock: pid \d+, started .*tcp-syn --load steady --backend netns --connections 400000/);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);

  it("never touches conntrack entries outside the harness's subnets", async () => {
    insertForeignEntry();
    try {
      expect(foreignEntryPresent()).toBe(true);
      const r = await runCli(['tcp-syn', '--load', 'steady', '--backend', 'netns', '--connections', '2000', '--modes', 'none,random-fully']);
      expect(r.code).toBe(0);
      expect(foreignEntryPresent()).toBe(true);
    } finally {
      deleteForeignEntry();
    }
  }, 120_000);
});
