#!/usr/bin/env node
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, errorMessage } from './errors.js';
import { EXIT } from './exitCodes.js';
import { requireRoot } from './host/preflight.js';
import { collectEnvironment, harnessVersion } from './host/environment.js';
import { cleanup, describeCleanup } from './commands/cleanup.js';
import { hostname } from 'node:os';
import { DOCTOR_SCHEMA, doctorChecks, doctorJson, isOptional, renderChecks } from './commands/doctor.js';
import { registerScenarioCommands } from './commands/scenarioCommand.js';
import { registerReportCommands } from './commands/reportCommands.js';
import { registerRunCommand } from './commands/runCommand.js';
import { SCENARIO_NAMES } from './scenarios/registry.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerWatchCommand } from './commands/watch.js';
import { registerTraceCommand } from './commands/trace.js';
import { registerMatrixCommand } from './commands/matrix.js';
import { selfTestCommand } from './node/trace/selfTest.js';
import { refuseNaN, requireValues, yargsMessage } from './commands/cliVoice.js';
import { COMPLETIONS_FLAG, SHELLS, completionScript, modesCompletion, type Shell } from './commands/completion.js';
import type { ScenarioName } from './types.js';

const COMMANDS = [...SCENARIO_NAMES, 'run', 'report', 'diff', 'audit', 'watch', 'doctor', 'env', 'cleanup', 'trace', 'history', 'matrix', 'completion'];

/**
 * Every command's builder ends with requireValues, so an option that takes a value cannot be given without one,
 * whoever adds the option. Only the (name, description, builder, handler) form is used in this program.
 */
function requiringValues<T>(y: Argv<T>): Argv<T> {
  const command = y.command.bind(y) as (...args: unknown[]) => Argv<T>;
  (y as { command: unknown }).command = (...args: unknown[]): Argv<T> => {
    const builder = args[2];
    if (typeof builder === 'function') args[2] = (a: Argv<T>) => requireValues((builder as (a: Argv<T>) => Argv<T> | undefined)(a) ?? a);
    return command(...args);
  };
  return y;
}

async function main(): Promise<void> {
  let exitCode: number = EXIT.OK;
  const setExit = (code: number): void => void (exitCode = code);
  const words = hideBin(process.argv);
  const parser = requiringValues(yargs(words))
    .scriptName('repro')
    .usage('$0 <command> [options]\n\nReproduce, measure and explain the conntrack/NAT races behind unexplained connection timeouts.');
  registerScenarioCommands(parser, setExit);
  parser
    .command(
      'doctor',
      'check root, iproute2, iptables and its backend, conntrack and Docker; print the fix for each',
      (y) => y.option('json', { type: 'boolean', default: false, describe: `print {schema: ${DOCTOR_SCHEMA}, version, host, time, ok, checks: [{name, ok, optional, detail, fix}]} as JSON` }),
      async (argv) => {
        const checks = await doctorChecks();
        const json = argv.json ? doctorJson(checks, { version: await harnessVersion(), host: hostname(), time: new Date() }) : null;
        process.stdout.write((json ? JSON.stringify(json, null, 2) : renderChecks(checks)) + '\n');
        setExit(checks.every((c) => c.ok || isOptional(c)) ? EXIT.OK : EXIT.USAGE);
      },
    )
    .command('env', 'print the environment block of a result (kernel, iptables, conntrack sysctls, CPUs, versions) as JSON', {}, async () => {
      process.stdout.write(JSON.stringify(await collectEnvironment('netns'), null, 2) + '\n');
    })
    .command(
      'cleanup',
      "remove whatever a killed run left (containers, networks, namespaces, links, rules, conntrack entries), found by the harness's own names and tags only; runs still alive are left alone",
      (y) =>
        y
          .option('run', { type: 'string', describe: 'only this run id (the 6 hex digits in its names)' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'list what would be removed, remove nothing' }),
      async (argv) => {
        await requireRoot();
        if (argv.run !== undefined && !/^[0-9a-f]{6}$/.test(argv.run)) {
          throw new UserError(`--run must be a run id of 6 hex digits, got "${argv.run}"`);
        }
        const r = await cleanup(argv.run, { dryRun: argv['dry-run'] });
        process.stderr.write(describeCleanup(r) + '\n');
      },
    );
  registerReportCommands(parser, setExit);
  registerRunCommand(parser, setExit);
  registerAuditCommand(parser, setExit);
  registerWatchCommand(parser, setExit);
  registerTraceCommand(parser, setExit, selfTestCommand);
  registerMatrixCommand(parser, setExit);
  parser
    .middleware(refuseNaN(words, parser), true)
    // Commands take no positional arguments: anything left over (e.g. after a bare `--`) is a mistake, not ignored.
    .check((argv) => {
      const extra = argv._.slice(1);
      if (extra.length > 0) throw new UserError(`unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.map((x) => JSON.stringify(String(x))).join(' ')}`);
      return true;
    })
    .command(
      'completion <shell>',
      'print the shell completion script: source <(repro completion bash), repro completion zsh > "${fpath[1]}/_repro", repro completion fish > ~/.config/fish/completions/repro.fish',
      (y) => y.positional('shell', { type: 'string', choices: SHELLS, demandOption: true, describe: 'the shell the script is for' }),
      (argv) => void process.stdout.write(completionScript(argv.shell as Shell, 'repro')),
    )
    // The callback the scripts call at each TAB (--get-yargs-completions WORDS); the command yargs would add is hidden.
    .completion('__yargs-completion-script', false, (current: string, argv: { _: (string | number)[] }, defaultCompletion: () => void, done: (completions: string[]) => void) => {
      const asked = words.slice(words.indexOf(`--${COMPLETIONS_FLAG}`) + 1);
      const scenario = argv._.map(String).find((w): w is ScenarioName => (SCENARIO_NAMES as readonly string[]).includes(w));
      if (scenario && asked.at(-2) === '--modes') return done(modesCompletion(scenario, current));
      defaultCompletion();
    })
    .demandCommand(1, `name a command: ${COMMANDS.join(', ')} (see --help)`)
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(await harnessVersion())
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      // yargs' own validation errors come as a YError (requiresArg) or as a message; the program's own pass through.
      if (err && err.name !== 'YError') throw err;
      throw new UserError(yargsMessage(msg ?? err?.message ?? '', words, COMMANDS));
    });
  if (words.length === 0) {
    // Bare `repro`: the usage, as kubectl and docker print theirs.
    process.stdout.write(`${await parser.getHelp()}\n`);
    return;
  }
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
