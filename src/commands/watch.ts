import type { Argv } from 'yargs';
import { durationOption } from '../scenarios/shared/durationOption.js';
import { parseWholeNumber } from '../scenarios/shared/numberOption.js';
import { harnessVersion } from '../host/environment.js';
import { resolveTargets, type TargetArgs } from '../node/targets.js';
import { parseListenAddress, Watch } from '../node/watch/watch.js';

export interface WatchArgs extends TargetArgs {
  count?: number | undefined;
  changesOnly?: boolean | undefined;
  json?: boolean | undefined;
  /** Seconds, or a duration as written (15s, 500ms). */
  interval: number | string;
  prometheus?: string | undefined;
  trace?: boolean | undefined;
}

/** Runs until SIGINT or SIGTERM, then stops cleanly with exit 0. */
export async function watchCommand(a: WatchArgs): Promise<number> {
  const intervalSec = durationOption('interval', a.interval, 's', 0.1, 3600, false);
  const prometheus = a.prometheus === undefined ? null : parseListenAddress(a.prometheus);
  const targets = await resolveTargets(a, { single: false });
  const count = a.count === undefined ? null : parseWholeNumber('count', a.count, 1, 1_000_000);
  const w = new Watch({
    targets,
    intervalSec,
    prometheus,
    trace: a.trace === true,
    count,
    changesOnly: a.changesOnly ?? false,
    json: a.json ?? false,
    version: await harnessVersion(),
    out: (l) => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
  });
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  await w.start();
  const sig = await Promise.race([stopped, w.finished.then(() => null)]);
  if (sig) process.stderr.write(`${sig}: stopping\n`);
  await w.stop();
  return 0;
}

/** Registers `watch` on the CLI; setExit receives its exit code. */
export function registerWatchCommand<T>(y: Argv<T>, setExit: (code: number) => void): Argv<T> {
  return y.command(
    'watch',
    'live conntrack race counters of this node (or of namespaces, processes, containers): deltas per interval, a reading when insert_failed moves, OpenMetrics with --prometheus (read only)',
    (a) =>
      a
        .option('netns', { type: 'string', array: true, describe: 'watch this named network namespace (repeatable)' })
        .option('pid', { type: 'number', array: true, describe: "watch this process's network namespace (repeatable)" })
        .option('container', { type: 'string', array: true, describe: "watch this container's network namespace (repeatable)" })
        .option('count', { type: 'number', describe: 'stop after this many intervals (as vmstat 2 5), then print the totals; default: until Ctrl-C or SIGTERM' })
        .option('changes-only', { type: 'boolean', default: false, describe: 'print an interval only when insert_failed, drop, clashres or early_drop moved (no +0 lines)' })
        .option('json', { type: 'boolean', default: false, describe: 'one JSON object a line (NDJSON): {type: interval, time, netns, seconds, delta, entries, limit, source, reading?}, then {type: total, ...}' })
        .option('interval', { type: 'string', default: 2, describe: 'time between reads (15s, 500ms; a bare number is seconds)' })
        .option('trace', { type: 'boolean', default: false, describe: 'also trace each conntrack drop (as repro trace does: bpftrace) and count them per pod: repro_conntrack_drops_total{netns,namespace,pod,container,kind,protocol}' })
        .option('prometheus', { type: 'string', describe: 'serve OpenMetrics at http://HOST:PORT/metrics, :PORT on every address (repro_conntrack_<stat>_total{netns}, repro_conntrack_entries, repro_conntrack_entries_limit, repro_conntrack_read_error, repro_build_info)' }),
    async (argv) => {
      setExit(
        await watchCommand({
          netns: argv.netns,
          pid: argv.pid,
          container: argv.container,
          interval: argv.interval,
          prometheus: argv.prometheus,
          trace: argv.trace,
          count: argv.count,
          changesOnly: argv['changes-only'],
          json: argv.json,
        }),
      );
    },
  ) as unknown as Argv<T>;
}
