#!/usr/bin/env node
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, errorMessage } from './errors.js';
import { TCP_SYN_DEFAULTS, validateTcpSynArgs, type TcpSynArgs } from './scenarios/tcpSyn/options.js';
import { runTcpSyn } from './scenarios/tcpSyn/run.js';
import { chooseBackend } from './backends/choose.js';
import { requireNetnsPrerequisites, requireRoot } from './host/preflight.js';
import { ProgressPrinter } from './commands/progress.js';
import { cleanup, describeCleanup } from './commands/cleanup.js';
import { doctorChecks, renderChecks } from './commands/doctor.js';
import { collectEnvironment } from './host/environment.js';
import { vxlanCliOptions, vxlanCommand } from './scenarios/vxlan/cli.js';
import { dnsCliOptions, dnsCommand } from './scenarios/dns/cli.js';
import { writeAndRender } from './commands/scenarioCommand.js';
import { registerReportCommands } from './commands/reportCommands.js';
import { registerRunCommand } from './commands/runCommand.js';
import type { ResultFile } from './types.js';
import { vmHook } from './commands/vmHook.js';

type TcpSynCliArgs = TcpSynArgs & { backend: string; image: string | undefined; json: boolean; out: string | undefined };

function tcpSynOptions(y: Argv): Argv<TcpSynCliArgs> {
  const d = TCP_SYN_DEFAULTS;
  return y
    .option('backend', { type: 'string', choices: ['auto', 'netns', 'docker'], default: 'auto', describe: 'where the hosts run: netns (network namespaces), docker (containers behind a docker0-style bridge), or auto (docker when a daemon answers, else netns)' })
    .option('image', { type: 'string', describe: 'docker backend: a ready image holding node and the project at /opt/repro (docker/Dockerfile builds one); default: built offline from the host and cached' })
    .option('modes', { type: 'string', default: d.modes, describe: 'MASQUERADE configurations to compare, comma-separated: none (no flag), random (--random), random-fully (--random-fully)' })
    .option('clients', { type: 'number', default: d.clients, describe: 'client hosts behind the NAT (1-64)' })
    .option('workers', { type: 'number', default: d.workers, describe: 'worker threads per client (1-32)' })
    .option('concurrency', { type: 'number', default: d.concurrency, describe: 'connects in flight per worker (1-4096)' })
    .option('connections', { type: 'number', default: d.connections, describe: 'connect attempts per mode, over all clients' })
    .option('duration', { type: 'number', default: d.duration, describe: 'seconds per mode at most; a mode stops at --connections or --duration, whichever comes first' })
    .option('port-range', { type: 'string', describe: "the clients' ip_local_port_range LO-HI; narrow ranges make clients pick the same source ports, which the race needs [default: 40000-40199 with --close rst, 32768-60999 with --close fin]" })
    .option('close', { type: 'string', choices: ['rst', 'fin'], default: d.close, describe: 'how clients close: rst (no TIME_WAIT, ports reused at once) or fin (orderly close, TIME_WAIT)' })
    .option('connect-timeout', { type: 'number', default: d['connect-timeout'], describe: 'ms before an attempt is given up and counted as ETIMEDOUT (8000 shows the 1 s, 3 s and 7 s signatures)' })
    .option('server-workers', { type: 'number', default: d['server-workers'], describe: 'server processes accepting on the shared listener' })
    .option('port', { type: 'number', default: d.port, describe: 'TCP port of the server agent' })
    .option('detect-rate', { type: 'number', default: d['detect-rate'], describe: 'race rate per 100 000 attempts that a not-reproduced verdict must rule out (95 %); fewer attempts make a mode inconclusive' })
    .option('protocol', { type: 'string', choices: ['tcp', 'http'], default: d.protocol, describe: 'what an attempt is: tcp (a bare connect) or http (a GET through undici, one fresh connection per request; records connect and request latency)' })
    .option('keepalive', { type: 'boolean', default: d.keepalive, describe: 'with --protocol http: pooled keep-alive connections, the mitigation to compare (most requests then open no connection)' })
    .option('json', { type: 'boolean', default: false, describe: 'print result.json alone on stdout (the table and progress still go to stderr)' })
    .option('out', { type: 'string', describe: 'result directory (default: results/<time>-tcp-syn-<run id>)' }) as unknown as Argv<
    TcpSynCliArgs
  >;
}

async function tcpSynCommand(argv: TcpSynCliArgs): Promise<number> {
  const opts = validateTcpSynArgs(argv);
  const progress = new ProgressPrinter(process.stderr);
  await requireNetnsPrerequisites();
  const { build } = await chooseBackend(argv.backend, argv.image, (t) => progress.phase(t));

  const controller = new AbortController();
  let runId: string | undefined;
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts === 1) {
      progress.phase(`${sig}: stopping the load, tearing down, writing a partial result (again to exit at once)`);
      controller.abort();
    } else {
      progress.phase(`${sig} again: best-effort cleanup of run ${runId ?? '?'}, then exit`);
      void (runId ? cleanup(runId) : Promise.resolve()).finally(() => process.exit(130));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const command = ['repro', ...process.argv.slice(2)].join(' ');
  let result: ResultFile;
  try {
    result = await runTcpSyn(opts, command, build, {
      onPhase: (t) => progress.phase(t),
      onProgress: (p) => progress.progress(p),
      onModeDone: () => progress.endLine(),
      onRunId: (id) => (runId = id),
      signal: controller.signal,
    });
  } finally {
    progress.endLine();
  }
  return writeAndRender(argv, result);
}

async function main(): Promise<void> {
  // TEMPORARY (issue 20): --kernel runs the scenario in a VM until the scenario commands take the option.
  const vmExit = await vmHook(hideBin(process.argv));
  if (vmExit !== null) return void (process.exitCode = vmExit);
  let exitCode = 0;
  const parser = yargs(hideBin(process.argv))
    .scriptName('repro')
    .usage('$0 <command> [options]\n\nReproduce, measure and explain the conntrack/NAT races behind unexplained connection timeouts.')
    .command(
      'tcp-syn',
      'the TCP SYN drop of the SNAT port-allocation race, compared across MASQUERADE modes',
      (y) => tcpSynOptions(y),
      async (argv) => {
        exitCode = await tcpSynCommand(argv);
      },
    )
    .command(
      'vxlan',
      'double SNAT of VXLAN-encapsulated traffic: a host-network client to a pod on another node, legacy vs patched kube-proxy rules',
      (y) => vxlanCliOptions(y),
      async (argv) => {
        exitCode = await vxlanCommand(argv);
      },
    )
    .command(
      'dns',
      'the UDP A/AAAA conntrack race of DNS lookups (5 s stalls), through a service VIP, compared across MASQUERADE modes and resolver mitigations',
      (y) => dnsCliOptions(y),
      async (argv) => {
        exitCode = await dnsCommand(argv);
      },
    )
    .command('doctor', 'check root, iproute2, iptables and its backend, conntrack and Docker; print the fix for each', {}, async () => {
      const checks = await doctorChecks();
      process.stdout.write(renderChecks(checks) + '\n');
      exitCode = checks.every((c) => c.ok || c.name.endsWith('(optional)')) ? 0 : 2;
    })
    .command('env', 'print the environment block of a result (kernel, iptables, conntrack sysctls, CPUs, versions) as JSON', {}, async () => {
      process.stdout.write(JSON.stringify(await collectEnvironment('netns'), null, 2) + '\n');
    })
    .command(
      'cleanup',
      "remove whatever a killed run left (containers, networks, namespaces, links, rules, conntrack entries), found by the harness's own names and tags only; runs still alive are left alone",
      (y) => y.option('run', { type: 'string', describe: 'only this run id (the 6 hex digits in its names)' }),
      async (argv) => {
        await requireRoot();
        if (argv.run !== undefined && !/^[0-9a-f]{6}$/.test(argv.run)) {
          throw new UserError(`--run must be a run id of 6 hex digits, got "${argv.run}"`);
        }
        const r = await cleanup(argv.run);
        process.stderr.write(describeCleanup(r) + '\n');
      },
    )
    // Commands take no positional arguments: anything left over (e.g. after a bare `--`) is a mistake, not ignored.
    .check((argv) => {
      const extra = argv._.slice(1);
      if (extra.length > 0) throw new UserError(`unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.map((x) => JSON.stringify(String(x))).join(' ')}`);
      return true;
    })
    .demandCommand(1, 'name a command: tcp-syn, dns, vxlan, run, report, diff, doctor, env or cleanup (see --help)')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      throw err ?? new UserError(msg);
    });
  registerReportCommands(parser, (code) => (exitCode = code));
  registerRunCommand(parser, (code) => (exitCode = code));
  try {
    await parser.parseAsync();
  } catch (err) {
    process.stderr.write(`repro: ${errorMessage(err).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = err instanceof UserError ? err.exitCode : 1;
    return;
  }
  process.exitCode = exitCode;
}

// A reader that went away (a closed pipe, a dead parent) must not crash the run before its teardown:
// output is best effort, cleanup is not.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

void main();
