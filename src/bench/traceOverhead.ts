/**
 * The `trace` bench section: what `repro trace` costs a steady load. The same `repro tcp-syn`-shaped steady load
 * (no-flag MASQUERADE, so it races now and then) is run on the netns backend without, with, and again without a
 * tracer on every namespace (the unfiltered case, the most a node pays). Goal (#26): <= 3 % slower.
 */
import { UserError } from '../errors.js';
import { requireNetnsPrerequisites } from '../host/preflight.js';
import { TCP_SYN_DEFAULTS, validateTcpSynArgs } from '../scenarios/tcpSyn/options.js';
import { Tracer } from '../node/trace/tracer.js';
import { HOOK_NAMES } from '../node/trace/program.js';
import { openTcpLab } from '../scenarios/shared/tcpLab.js';

export async function benchTraceOverhead(): Promise<{ lines: string[]; json: object }> {
  await requireNetnsPrerequisites();
  const connections = Number(process.env['REPRO_BENCH_TRACE_CONNECTIONS'] ?? 60_000);
  if (!Number.isInteger(connections) || connections < 1000) throw new UserError(`REPRO_BENCH_TRACE_CONNECTIONS=${connections}: give at least 1000`);
  const opts = validateTcpSynArgs({ ...TCP_SYN_DEFAULTS, connections, duration: 60 });
  const lab = await openTcpLab({ command: 'npm run bench', clients: opts.clients, portRange: opts.portRange, serverPort: opts.serverPort, serverWorkers: opts.serverWorkers, mode: 'none' });
  try {
    const perClient = Math.floor(connections / lab.topology.clients.length);
    const load = async (): Promise<{ attempts: number; failed: number; perSecond: number }> => {
      await lab.topology.clearNatEntries();
      const results = await lab.runClients({ workers: opts.workers, concurrency: opts.concurrency, connections: perClient, durationMs: 60_000, connectTimeoutMs: opts.connectTimeoutMs, close: 'rst', progressIntervalMs: 1000, connectPath: 'auto' });
      const attempts = results.reduce((s, r) => s + r.attempts, 0);
      const elapsed = Math.max(...results.map((r) => r.elapsedMs));
      return { attempts, failed: results.reduce((s, r) => s + r.failed, 0), perSecond: Math.round((attempts / elapsed) * 1000) };
    };
    // without, with, without: the second run of a lab is the faster one (warm caches, settled CPU), so the two
    // runs without the tracer bracket the one with it and their mean is the reference.
    const before = await load();
    const notes: string[] = [];
    const tracer = new Tracer({ targets: [], intervalSec: 2, onRecord: () => undefined, note: (l) => notes.push(l) });
    await tracer.start();
    let withTrace: Awaited<ReturnType<typeof load>>;
    try {
      withTrace = await load();
    } finally {
      await tracer.stop();
    }
    const after = await load();
    const without = { ...before, perSecond: Math.round((before.perSecond + after.perSecond) / 2), runs: [before.perSecond, after.perSecond] };
    const cost = 1 - withTrace.perSecond / without.perSecond;
    const json = { benchmark: 'trace-overhead', hook: tracer.hook ? HOOK_NAMES[tracer.hook] : null, connections, without, withTrace, cost, drops: tracer.counts.records, insertRaces: tracer.counts.races };
    const lines = [
      `trace: steady load ${without.perSecond} connects/s without (mean of ${before.perSecond} before and ${after.perSecond} after), ${withTrace.perSecond}/s with repro trace on every namespace (${json.hook}) · cost ${Math.round(cost * 1000) / 10} % (goal <= 3 %) · ${tracer.counts.records} drops traced, ${tracer.counts.races} insert races`,
    ];
    return { lines, json };
  } finally {
    await lab.close();
  }
}
