/**
 * `repro trace --self-test` (and `repro trace --kernel K`, which runs it inside a guest on kernel K): the same
 * bounded same-port race (one tcp/burst agent, two clients, no-flag MASQUERADE on the netns backend) once per hook,
 * with `repro trace` attached to the lab's NAT namespace, compared with what the kernel itself counted there
 * (conntrack's insert_failed delta) and what the race tool saw. It makes the race it measures: it changes the
 * machine it runs on (a lab of its own, torn down after), unlike `repro trace` itself.
 */
import { requireNetnsPrerequisites } from '../../host/preflight.js';
import { BURST_DEFAULTS } from '../../agents/tcp/nativeBurst.js';
import { errorMessage } from '../../errors.js';
import { ensureTracefs, hookCandidates, Tracer } from './tracer.js';
import { HOOK_NAMES, HOOKS, type HookId } from './program.js';
import type { NetnsRef } from '../../host/exec.js';
import type { TraceRecord } from './records.js';
import { openTcpLab } from '../../scenarios/shared/tcpLab.js';
import { runInGuest } from '../../vm/runInVm.js';
import { readGuestFile } from '../../vm/guestResult.js';
import { UserError } from '../../errors.js';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadRaces, measureRaces, runBurstAgent } from '../../scenarios/shared/burstRaces.js';

export const SELF_TEST_SCHEMA = 'repro/trace-self-test@1';
/** Rounds of the race in flight at once (the burst load's default is 2 048). */
const SELF_TEST_IN_FLIGHT = 16;

export interface HookRun {
  hook: HookId;
  hookName: string;
  /** Why the hook could not attach (then the figures are 0). */
  error?: string;
  /** The kernel's count: insert_failed delta of the lab's NAT namespace over the load. */
  insertFailed: number;
  /** repro trace's records in that namespace, and of those the insert races. */
  records: number;
  insertRaces: number;
  /**
   * The race tool's own count: its connects that lost a SYN (took a retransmit's second or more, or failed), from its
   * latency histogram: a race loser's SYN is dropped and sent again a second later.
   */
  attempts: number;
  stalls: number;
  /** Distinct client and partner ids named by the insert-race records, and the lab's clients as they should be named. */
  clients: string[];
  partners: string[];
  labClients: string[];
}

export interface SelfTestResult {
  schema: typeof SELF_TEST_SCHEMA;
  kernel: string;
  /** Hooks the kernel refused before any attach was tried, with why. */
  refused: string[];
  runs: HookRun[];
}

/** Pure: a hook run agrees when its insert-race records equal insert_failed (> 0) and name only the lab's clients, both of them. */
export function hookRunAgrees(r: HookRun): boolean {
  const named = (ids: string[]): boolean => ids.length > 0 && ids.every((c) => r.labClients.includes(c));
  return r.error === undefined && r.insertFailed > 0 && r.insertRaces === r.insertFailed && named(r.clients) && named(r.partners) && new Set([...r.clients, ...r.partners]).size === r.labClients.length;
}

/** Pure: one line per hook run. */
export function hookRunLine(r: HookRun): string {
  if (r.error !== undefined) return `${r.hook}: not attached: ${r.error}`;
  return `${r.hook}: ${r.insertRaces} insert-race records (${r.records} drops) for insert_failed +${r.insertFailed}; race tool: ${r.stalls} of ${r.attempts} connects lost a SYN; clients ${r.clients.join(', ') || '-'}; partners ${r.partners.join(', ') || '-'} · ${hookRunAgrees(r) ? 'agrees' : 'DIFFERS'}`;
}

export async function traceSelfTest(o: { hooks: readonly HookId[]; connections: number; kernel: string; note: (l: string) => void }): Promise<SelfTestResult> {
  await requireNetnsPrerequisites();
  // The hooks are read from tracefs: mounted first (a guest's init does not mount it).
  await ensureTracefs(o.note);
  const { usable, refused } = await hookCandidates();
  const hooks = o.hooks.length > 0 ? o.hooks : usable.map((u) => u.hook).filter((h) => HOOKS.includes(h));
  const lab = await openTcpLab({ command: 'repro trace --self-test', clients: BURST_DEFAULTS.clients, portRange: [40000, 40199], serverPort: 8080, serverWorkers: 1, mode: 'none' });
  const runs: HookRun[] = [];
  try {
    const t = lab.topology;
    const nat: NetnsRef = t.natNetns === null ? { kind: 'host' } : { kind: 'netns', name: t.natNetns };
    const clients = t.clients.slice(0, BURST_DEFAULTS.clients);
    const labClients = clients.map((c) => `netns:${c.name}`);
    for (const hook of hooks) {
      const records: TraceRecord[] = [];
      const tracer = new Tracer({ targets: t.natNetns === null ? [] : [nat], intervalSec: 1, hook, onRecord: (r) => records.push(r), note: o.note });
      const base = { hook, hookName: HOOK_NAMES[hook], labClients };
      try {
        await tracer.start();
      } catch (err) {
        runs.push({ ...base, error: errorMessage(err), insertFailed: 0, records: 0, insertRaces: 0, attempts: 0, stalls: 0, clients: [], partners: [] });
        o.note(`${hook}: ${errorMessage(err)}`);
        continue;
      }
      o.note(`${hook}: attached; same-port race, ${o.connections} connects`);
      let measured: Awaited<ReturnType<typeof measureRaces<Awaited<ReturnType<typeof runBurstAgent>>>>>;
      try {
        measured = await measureRaces(t, clients, () =>
          runBurstAgent(t, clients, 8080, {
            connections: o.connections, durationMs: 120_000, connectTimeoutMs: BURST_DEFAULTS.connectTimeoutMs,
            // Few rounds in flight: the partner is found through conntrack's NEW events (the lab's RST ends the entry at
            // once), and under emulation thousands at once overflow the listener's buffer (ENOBUFS: events lost).
            burstPorts: BURST_DEFAULTS.burstPorts, inFlightRounds: SELF_TEST_IN_FLIGHT, progressIntervalMs: 1000,
          }),
        );
      } finally {
        // Stopping waits for the records still in flight and their partner lookups.
        await tracer.stop();
      }
      const races = records.filter((r) => r.kind === 'insert-race');
      const ids = (xs: (string | undefined)[]): string[] => [...new Set(xs.filter((x): x is string => x !== undefined))].sort();
      const run: HookRun = {
        ...base,
        insertFailed: measured.counters.raceDrops,
        records: records.length,
        insertRaces: races.length,
        attempts: measured.result.attempts,
        stalls: loadRaces('burst', [measured.result], measured.counters).stalls,
        clients: ids(races.map((r) => r.client?.id)),
        partners: ids(races.map((r) => r.partner?.client?.id)),
      };
      runs.push(run);
      o.note(hookRunLine(run));
    }
  } finally {
    await lab.close();
  }
  return { schema: SELF_TEST_SCHEMA, kernel: o.kernel, refused, runs };
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isText = (x: unknown, max = 2000): x is string => typeof x === 'string' && x.length <= max;
const isTexts = (x: unknown): x is string[] => Array.isArray(x) && x.length <= 64 && x.every((s) => isText(s, 300));

/**
 * Pure: a self-test result read back from a guest (hostile input: whatever the guest wrote), or why it is refused.
 * Only the known fields are kept, each checked.
 */
export function checkSelfTest(text: string): SelfTestResult | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const o = v as Partial<Record<keyof SelfTestResult, unknown>>;
  if (typeof v !== 'object' || v === null || o.schema !== SELF_TEST_SCHEMA) return `not a ${SELF_TEST_SCHEMA} result`;
  if (!isText(o.kernel, 200) || !isTexts(o.refused) || !Array.isArray(o.runs) || o.runs.length > HOOKS.length) return 'kernel, refused or runs malformed';
  const runs: HookRun[] = [];
  for (const x of o.runs as unknown[]) {
    const r = (typeof x === 'object' && x !== null ? x : {}) as Partial<Record<keyof HookRun, unknown>>;
    const hook = HOOKS.find((h) => h === r.hook);
    if (!hook) return 'a run names no known hook';
    const counts = [r.insertFailed, r.records, r.insertRaces, r.attempts, r.stalls];
    if (!counts.every(isCount) || !isTexts(r.clients) || !isTexts(r.partners) || !isTexts(r.labClients) || (r.error !== undefined && !isText(r.error))) return `the ${hook} run is malformed`;
    const [insertFailed, records, insertRaces, attempts, stalls] = counts as number[];
    runs.push({
      hook, hookName: HOOK_NAMES[hook], insertFailed: insertFailed ?? 0, records: records ?? 0, insertRaces: insertRaces ?? 0, attempts: attempts ?? 0, stalls: stalls ?? 0,
      clients: r.clients as string[], partners: r.partners as string[], labClients: r.labClients as string[], ...(typeof r.error === 'string' ? { error: r.error } : {}),
    });
  }
  return { schema: SELF_TEST_SCHEMA, kernel: o.kernel as string, refused: o.refused as string[], runs };
}

/** The self-test's same-port race: 2 000 connects are a few seconds on hardware and well under a minute under TCG. */
export const SELF_TEST_CONNECTIONS = 2000;

/**
 * `repro trace --self-test` (here) or `--kernel K` (inside a guest on K, which runs `--self-test --out` and whose file
 * is read back). Exit 0 when every hook run agrees; inside the guest (--out) 0 once written: the host judges.
 */
export async function selfTestCommand(o: {
  hooks: HookId[]; connections?: number | undefined; kernel?: string | undefined; json: boolean; out?: string | undefined; command: string; signal: AbortSignal; say: (l: string) => void;
}): Promise<number> {
  const connections = o.connections ?? SELF_TEST_CONNECTIONS;
  if (!Number.isInteger(connections) || connections < 100 || connections > 1_000_000) throw new UserError(`--connections ${connections}: give a whole number from 100 to 1000000`);
  let result: SelfTestResult;
  if (o.kernel !== undefined) {
    if (o.out !== undefined) throw new UserError('--out goes with --self-test, not --kernel (--json prints the result)');
    const file = 'trace-self-test.json';
    result = await runInGuest(
      {
        kernel: o.kernel, command: o.command, onPhase: (t) => o.say(`· ${t}`), signal: o.signal,
        // The guest's own notes (each hook's attach and its line), not the kernel's: they start with a hook's name.
        onConsole: (l) => void (HOOKS.some((h) => l.startsWith(`${h}: `)) && o.say(`  guest: ${l}`)),
      },
      {
        words: (outDir) => ['trace', '--self-test', ...o.hooks.flatMap((h) => ['--hook', h]), '--connections', String(connections), '--out', path.join(outDir, file)],
        read: async (outDir) => {
          const text = await readGuestFile(path.join(outDir, file), 1 << 20);
          if (text === null) return null;
          const checked = checkSelfTest(text);
          if (typeof checked === 'string') throw new Error(`the guest's self-test result is refused: ${checked}`);
          return checked;
        },
      },
    );
  } else {
    result = await traceSelfTest({ hooks: o.hooks, connections, kernel: os.release(), note: o.say });
    if (o.out !== undefined) await writeFile(o.out, JSON.stringify(result) + '\n', { mode: 0o600 });
  }
  if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(`kernel ${result.kernel}: the same-port race once per hook, records against insert_failed\n`);
    for (const r of result.runs) process.stdout.write(`  ${hookRunLine(r)}\n`);
    for (const r of result.refused) process.stdout.write(`  refused: ${r}\n`);
  }
  if (o.out !== undefined) return 0;
  return result.runs.length > 0 && result.runs.every(hookRunAgrees) ? 0 : 1;
}
