import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { runCli } from './cli.js';
import { existsSync, readFileSync } from 'node:fs';
import { hostSnapshot } from './hostSnapshot.js';
import { buildRaceLab, type RaceLab } from './raceLab.js';
import { scrape, startTrace } from './traceCli.js';
import { startWatchCli } from './watchCli.js';
import { alive } from '../../src/node/trace/tracerState.js';
import { underCi } from '../ci.js';

const gate = capabilityGate();
const bpftrace = execFileSync('sh', ['-c', 'command -v bpftrace || true'], { encoding: 'utf8' }).trim();
if (!bpftrace && underCi()) throw new Error('the trace tests need bpftrace under CI (.ci/run installs it)');
const skip = gate.skip ? gate.reason : !bpftrace ? 'bpftrace is not installed' : null;

/** The kernel's own count, read apart from the code under test. */
function kernelInsertFailed(netns: string): number {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'conntrack', '-S'], { encoding: 'utf8' });
  return [...out.matchAll(/\binsert_failed=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One client's connects, one after another (no race possible), each given up after 50 ms. */
function sequentialConnects(lab: RaceLab, count: number): void {
  const script = `const net=require('net');let i=0;const next=()=>{if(i++>=${count})return;const s=net.connect({host:'${lab.serverIp}',port:80});const t=setTimeout(()=>{s.destroy();next()},50);s.on('error',()=>{clearTimeout(t);s.destroy();next()});};next();`;
  execFileSync('ip', ['netns', 'exec', lab.clients[0], process.execPath, '-e', script], { timeout: 60_000 });
}

/** A rule's packet count, read from iptables -v -x (ground truth for injected drops). */
function rulePackets(lab: RaceLab, table: string, comment: string): number {
  const out = lab.exec(lab.router, 'iptables', ['-t', table, '-L', 'FORWARD', '-v', '-x', '-n']);
  const line = out.split('\n').find((l) => l.includes(comment));
  if (!line) throw new Error(`rule ${comment} not in:\n${out}`);
  return Number(line.trim().split(/\s+/)[0]);
}

/** `repro watch --trace --prometheus 127.0.0.1:0` on one namespace: its metrics URL, and a stop by SIGTERM. */

describe.skipIf(skip !== null)(`repro trace${skip ? ` — skipped: ${skip}` : ''}`, () => {
  // The hook this kernel allows first, and the one older kernels (no drop reason) get, forced here.
  for (const hook of ['best', 'kfree_skb-location'] as const) {
  it(`one insert-race record per insert_failed of the race lab, each naming its client and a partner from the other client (hook: ${hook})`, async () => {
    const host = hostSnapshot();
    const lab = buildRaceLab();
    try {
      const t = await startTrace(['--netns', lab.router, ...(hook === 'best' ? [] : ['--hook', hook])]);
      const before = kernelInsertFailed(lab.router);
      const race = await lab.race(300);
      await sleep(1500);
      const made = kernelInsertFailed(lab.router) - before;
      const { code, records, stderr } = await t.stop();
      expect(code).toBe(0);
      expect(made).toBeGreaterThan(0);
      expect(race.unanswered).toBe(made);
      const races = records.filter((r) => r.kind === 'insert-race');
      expect(races).toHaveLength(made);
      expect(records).toHaveLength(made);
      const addr = { [lab.clients[0]]: '10.77.1.2', [lab.clients[1]]: '10.77.2.2' };
      for (const r of races) {
        expect(r.netns).toBe(`netns:${lab.router}`);
        expect(r.protocol).toBe('tcp');
        expect(r.original.dst).toBe(lab.serverIp);
        const client = r.client?.id.replace(/^netns:/, '') ?? '';
        expect(lab.clients).toContain(client);
        expect(r.original.src).toBe(addr[client]);
        const other = lab.clients.find((c) => c !== client) ?? '';
        expect(r.partner?.client?.id).toBe(`netns:${other}`);
        expect(r.partner?.original.src).toBe(addr[other]);
        // Same source port: the no-flag MASQUERADE kept both, which is the clash.
        expect(r.partner?.original.sport).toBe(r.original.sport);
        expect(r.translated.sport).toBe(r.original.sport);
      }
      // The interval checks found nothing to say: every insert_failed had its record.
      expect(stderr).not.toMatch(/^! /m);
      expect(stderr).toMatch(new RegExp(`^${records.length} drops traced, ${made} insert races$`, 'm'));
      expect(races[0]?.hook).toMatch(hook === 'best' ? /^(fexit|kretprobe|tracepoint:skb:kfree_skb reason)/ : /^tracepoint:skb:kfree_skb in nf_hook_slow/);
      process.stderr.write(`trace (${hook}): ${race.rounds} rounds, insert_failed +${made} (kernel) = ${races.length} insert-race records\n${JSON.stringify(races[0])}\n`);
    } finally {
      lab.destroy();
    }
    expect(hostSnapshot()).toEqual(host);
  }, 90_000);
  }

  it('drops injected by rules (iptables -m statistic in mangle and filter FORWARD, an nft rule) are netfilter-drop, never insert-race', async () => {
    const lab = buildRaceLab();
    try {
      const ipt = (table: string, comment: string): void =>
        void lab.exec(lab.router, 'iptables', ['-t', table, '-I', 'FORWARD', '-p', 'tcp', '--dport', '80', '-m', 'statistic', '--mode', 'random', '--probability', '0.2', '-m', 'comment', '--comment', comment, '-j', 'DROP']);
      ipt('mangle', 'trace-test-mangle');
      ipt('filter', 'trace-test-filter');
      lab.exec(lab.router, 'nft', ['add table inet tracetest']);
      lab.exec(lab.router, 'nft', ['add chain inet tracetest dropper { type filter hook forward priority 10 ; }']);
      lab.exec(lab.router, 'nft', ['add rule inet tracetest dropper tcp dport 80 numgen random mod 5 == 0 counter drop']);
      const t = await startTrace(['--netns', lab.router]);
      const before = kernelInsertFailed(lab.router);
      sequentialConnects(lab, 300);
      await sleep(1500);
      const { code, records } = await t.stop();
      expect(code).toBe(0);
      const nftOut = lab.exec(lab.router, 'nft', ['list', 'table', 'inet', 'tracetest']);
      const nftDrops = Number(/counter packets (\d+)/.exec(nftOut)?.[1]);
      const injected = rulePackets(lab, 'mangle', 'trace-test-mangle') + rulePackets(lab, 'filter', 'trace-test-filter') + nftDrops;
      expect(nftDrops).toBeGreaterThan(0);
      expect(injected).toBeGreaterThan(20);
      expect(kernelInsertFailed(lab.router) - before).toBe(0);
      expect(records.filter((r) => r.kind === 'insert-race')).toEqual([]);
      expect(records.filter((r) => r.kind === 'netfilter-drop')).toHaveLength(injected);
      process.stderr.write(`trace: ${injected} injected drops (rule counters) = ${records.length} netfilter-drop records, 0 insert-race\n`);
    } finally {
      lab.destroy();
    }
  }, 90_000);

  it('watch --trace serves the per-pod drop counter: the race drops as insert-race, as many as insert_failed', async () => {
    const lab = buildRaceLab();
    let stopWatch = (): void => undefined;
    try {
      const w = await startWatchCli(['--trace', '--netns', lab.router, '--interval', '1'], { serveTimeoutMs: 30_000 });
      stopWatch = w.kill;
      const before = kernelInsertFailed(lab.router);
      await lab.race(200);
      await sleep(1500);
      const made = kernelInsertFailed(lab.router) - before;
      const body = await scrape(w.url);
      const { code, stdout } = await w.stop('SIGTERM');
      expect(code).toBe(0);
      expect(made).toBeGreaterThan(0);
      expect(body).toContain('# TYPE repro_conntrack_drops counter');
      const m = new RegExp(`^repro_conntrack_drops_total\\{netns="${lab.router}",namespace="",pod="",container="",kind="insert-race",protocol="tcp"\\} (\\d+)$`, 'm').exec(body);
      expect(Number(m?.[1])).toBe(made);
      expect(stdout.split('\n').filter((l) => / insert-race /.test(l))).toHaveLength(made);
    } finally {
      stopWatch();
      lab.destroy();
    }
  }, 90_000);

  it('a SIGKILLed trace leaves its bpftrace, which repro cleanup ends by its state file', async () => {
    const lab = buildRaceLab();
    try {
      const t = await startTrace(['--netns', lab.router]);
      const file = `/run/repro/tracers/${t.pid}.json`;
      const state = JSON.parse(readFileSync(file, 'utf8')) as { owner: number; processes: { pid: number }[] };
      expect(state.owner).toBe(t.pid);
      // bpftrace and the router's conntrack -E listener.
      expect(state.processes).toHaveLength(2);
      const pids = state.processes.map((p) => p.pid);
      process.kill(t.pid ?? 0, 'SIGKILL');
      await sleep(300);
      expect(pids.every(alive)).toBe(true);
      const r = await runCli(['cleanup']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/\b2 tracer processes \(bpftrace, conntrack -E\)/);
      for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(100);
      expect(pids.filter(alive)).toEqual([]);
      expect(existsSync(file)).toBe(false);
    } finally {
      lab.destroy();
    }
  }, 60_000);

  it('bad arguments are one line and exit 2', async () => {
    for (const [args, message] of [
      [['trace', '--prometheus', '127.0.0.1:0', '--json'], 'repro: --prometheus runs as watch --trace: without --json, --hook or --duration'],
      [['trace', '--interval', '0'], 'repro: --interval 0: give seconds between 0.1 and 3600'],
      [['trace', '--netns', 'repro-000000-none'], /^repro: --netns repro-000000-none: /],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(typeof message === 'string' ? new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : message);
    }
  }, 30_000);
});
