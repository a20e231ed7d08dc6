#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, errorMessage } from './errors.js';
import { EXIT } from './exitCodes.js';
import { requireRoot } from './host/preflight.js';
import { collectEnvironment, harnessVersion } from './host/environment.js';
import { cleanup, describeCleanup } from './commands/cleanup.js';
import { doctorChecks, renderChecks } from './commands/doctor.js';
import { registerScenarioCommands } from './commands/scenarioCommand.js';
import { registerReportCommands } from './commands/reportCommands.js';
import { registerRunCommand } from './commands/runCommand.js';
import { SCENARIO_NAMES } from './scenarios/registry.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerWatchCommand } from './commands/watch.js';
import { registerMatrixCommand } from './commands/matrix.js';

async function main(): Promise<void> {
  let exitCode: number = EXIT.OK;
  const setExit = (code: number): void => void (exitCode = code);
  const parser = yargs(hideBin(process.argv))
    .scriptName('repro')
    .usage('$0 <command> [options]\n\nReproduce, measure and explain the conntrack/NAT races behind unexplained connection timeouts.');
  registerScenarioCommands(parser, setExit);
  parser
    .command('doctor', 'check root, iproute2, iptables and its backend, conntrack and Docker; print the fix for each', {}, async () => {
      const checks = await doctorChecks();
      process.stdout.write(renderChecks(checks) + '\n');
      setExit(checks.every((c) => c.ok || c.name.endsWith('(optional)')) ? EXIT.OK : EXIT.USAGE);
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
    );
  registerReportCommands(parser, setExit);
  registerRunCommand(parser, setExit);
  registerAuditCommand(parser, setExit);
  registerWatchCommand(parser, setExit);
  registerMatrixCommand(parser, setExit);
  parser
    // Commands take no positional arguments: anything left over (e.g. after a bare `--`) is a mistake, not ignored.
    .check((argv) => {
      const extra = argv._.slice(1);
      if (extra.length > 0) throw new UserError(`unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.map((x) => JSON.stringify(String(x))).join(' ')}`);
      return true;
    })
    .demandCommand(1, `name a command: ${SCENARIO_NAMES.join(', ')}, run, matrix, report, diff, audit, watch, doctor, env or cleanup (see --help)`)
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(await harnessVersion())
    .completion('completion', 'print a bash/zsh completion script: repro completion >> ~/.bashrc (from zsh: >> ~/.zshrc)')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      throw err ?? new UserError(msg);
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    process.stderr.write(`repro: ${errorMessage(err).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = err instanceof UserError ? err.exitCode : EXIT.FAILED;
    return;
  }
  process.exitCode = exitCode;
}

// A reader that went away (a closed pipe, a dead parent) must not crash the run before its teardown:
// output is best effort, cleanup is not.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

void main();
