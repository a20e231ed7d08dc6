import type { Argv } from 'yargs';
import { UserError } from '../errors.js';
import { resolveTargets, type TargetArgs } from '../node/targets.js';
import { HOOKS, type HookId } from '../node/trace/program.js';
import { recordLine } from '../node/trace/records.js';
import { Tracer } from '../node/trace/tracer.js';
import { watchCommand } from './watch.js';
import { handleInterrupts } from './interrupts.js';

export interface TraceArgs extends TargetArgs {
  duration?: number | undefined;
  interval: number;
  json: boolean;
  hook?: string[] | undefined;
  prometheus?: string | undefined;
  'self-test'?: boolean | undefined;
  kernel?: string | undefined;
  connections?: number | undefined;
  out?: string | undefined;
}

/**
 * `--self-test` and `--kernel` (src/node/trace/selfTest.ts, given by cli.ts: it builds a lab as the bench does, a
 * layer this one may not import): the bounded race once per hook with the tracer attached; its exit code.
 */
export type SelfTestRunner = (o: { hooks: HookId[]; connections?: number | undefined; kernel?: string | undefined; json: boolean; out?: string | undefined; command: string; signal: AbortSignal; say: (l: string) => void }) => Promise<number>;

async function selfTestCommand(a: TraceArgs, hooks: HookId[], selfTest: SelfTestRunner): Promise<number> {
  const say = (l: string): boolean => process.stderr.write(l + '\n');
  const interrupts = handleInterrupts(say);
  try {
    return await selfTest({ hooks, connections: a.connections, kernel: a.kernel, json: a.json, out: a.out, command: ['repro', ...process.argv.slice(2)].join(' '), signal: interrupts.signal, say });
  } finally {
    interrupts.dispose();
  }
}

const given = (v: unknown): boolean => v !== undefined && (!Array.isArray(v) || v.length > 0);

/** `repro trace`: until --duration, SIGINT or SIGTERM; the tracer ends with it. Exit 0, or 1 when bpftrace ended by itself. */
export async function traceCommand(a: TraceArgs, selfTest?: SelfTestRunner): Promise<number> {
  if (!Number.isFinite(a.interval) || a.interval < 0.1 || a.interval > 3600) throw new UserError(`--interval ${a.interval}: give seconds between 0.1 and 3600`);
  if (a.duration !== undefined && (!Number.isFinite(a.duration) || a.duration <= 0 || a.duration > 86_400 * 365)) throw new UserError(`--duration ${a.duration}: give seconds above 0`);
  const hooks = (a.hook ?? []).map((h) => {
    if (!(HOOKS as readonly string[]).includes(h)) throw new UserError(`--hook ${h}: one of ${HOOKS.join(', ')}`);
    return h as HookId;
  });
  if (a['self-test'] === true || a.kernel !== undefined) {
    if (!selfTest) throw new Error('trace: no self-test runner given');
    return selfTestCommand(a, hooks, selfTest);
  }
  if (a.connections !== undefined || a.out !== undefined) throw new UserError('--connections and --out go with --self-test or --kernel');
  if (hooks.length > 1) throw new UserError('one --hook at a time (several only with --self-test or --kernel)');
  // The metrics endpoint is watch's: with --prometheus, trace is `watch --trace` (its counters beside the drops).
  if (a.prometheus !== undefined) {
    if (a.json || hooks.length > 0 || a.duration !== undefined) throw new UserError('--prometheus runs as watch --trace: without --json, --hook or --duration');
    return watchCommand({ netns: a.netns, pid: a.pid, container: a.container, interval: a.interval, prometheus: a.prometheus, trace: true });
  }
  const targets = given(a.netns) || given(a.pid) || given(a.container) ? await resolveTargets(a, { single: false }) : [];
  const out = (l: string): boolean => process.stdout.write(l + '\n');
  const err = (l: string): boolean => process.stderr.write(l + '\n');
  const t = new Tracer({
    targets,
    intervalSec: a.interval,
    ...(hooks[0] ? { hook: hooks[0] } : {}),
    onRecord: (r) => out(a.json ? JSON.stringify(r) : recordLine(r)),
    note: (l) => void (a.json || !l.startsWith('!') ? err(l) : out(l)),
  });
  // Signals are taken before bpftrace starts: a Ctrl-C during the start still stops it. The duration counts from
  // the moment every probe is attached.
  let timeUp: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    timeUp = resolve;
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  await t.start();
  if (a.duration !== undefined) setTimeout(() => timeUp('duration'), a.duration * 1000).unref();
  const why = await Promise.race([stopped, t.ended.then((m) => m ?? 'bpftrace ended')]);
  const selfEnded = why !== 'SIGINT' && why !== 'SIGTERM' && why !== 'duration';
  err(`${why}: stopping`);
  await t.stop();
  err(`${t.counts.records} drops traced, ${t.counts.races} insert races`);
  return selfEnded ? 1 : 0;
}

export function registerTraceCommand<T>(y: Argv<T>, setExit: (code: number) => void, selfTest: SelfTestRunner): Argv<T> {
  return y.command(
    'trace',
    'every conntrack drop on this node as it happens (eBPF through bpftrace): the pod it hit, the kind (insert-race with its partner, or netfilter-drop), checked against insert_failed every interval (read only)',
    (a) =>
      a
        .option('netns', { type: 'string', array: true, describe: 'only drops in this named network namespace (repeatable)' })
        .option('pid', { type: 'number', array: true, describe: "only drops in this process's network namespace (repeatable)" })
        .option('container', { type: 'string', array: true, describe: "only drops in this container's network namespace (repeatable)" })
        .option('duration', { type: 'number', describe: 'stop after this many seconds (default: until Ctrl-C)' })
        .option('interval', { type: 'number', default: 2, describe: 'seconds between the checks against insert_failed' })
        .option('json', { type: 'boolean', default: false, describe: 'one JSON object per drop on stdout (NDJSON); notes on stderr' })
        .option('hook', { type: 'string', array: true, choices: HOOKS, describe: 'use this hook instead of the best the kernel allows (with --self-test or --kernel: each given, in turn)' })
        .option('self-test', { type: 'boolean', describe: 'make a bounded same-port race here (a netns lab of its own, no-flag MASQUERADE) once per hook the kernel allows, and compare each hook\'s insert-race records with insert_failed; changes this machine while it runs' })
        .option('kernel', { type: 'string', describe: 'run --self-test inside a QEMU guest on this kernel (as the scenarios\' --kernel: a bzImage, a kernel .deb, debian, debian:<release>)' })
        .option('connections', { type: 'number', describe: `with --self-test or --kernel: connects of the race per hook (default 2000)` })
        .option('out', { type: 'string', describe: 'with --self-test: also write its JSON result to this file' })
        .option('prometheus', { type: 'string', describe: 'serve OpenMetrics at http://HOST:PORT/metrics, as watch --trace does (repro_conntrack_drops_total{netns,namespace,pod,container,kind,protocol} and the conntrack counters)' }),
    async (argv) => {
      setExit(
        await traceCommand({
          netns: argv.netns, pid: argv.pid, container: argv.container, duration: argv.duration, interval: argv.interval, json: argv.json, hook: argv.hook, prometheus: argv.prometheus,
          'self-test': argv['self-test'], kernel: argv.kernel, connections: argv.connections, out: argv.out,
        }, selfTest),
      );
    },
  ) as unknown as Argv<T>;
}
