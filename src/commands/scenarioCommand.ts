import type { Argv, Options } from 'yargs';
import { UserError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { ProgressPrinter } from './progress.js';
import { handleInterrupts } from './interrupts.js';
import { renderTerminal } from '../report/terminal.js';
import { RUN_OUTPUTS, defaultResultDir, prepareOutputDir, redactResult, writeRunOutputs } from '../report/resultFiles.js';
import { requireNetnsPrerequisites } from '../host/preflight.js';
import { chooseBackend } from '../backends/choose.js';
import { buildNetnsTopology } from '../backends/netns/topology.js';
import { SCENARIOS } from '../scenarios/registry.js';
import { runScenarioInVm, VM_DEFAULTS } from '../vm/runInVm.js';
import { dryRunPlan, renderDryRun } from './dryRun.js';
import type { ScenarioEntry } from '../scenarios/shared/definition.js';
import type { ScenarioHooks } from '../runner/hooks.js';
import type { ResultFile } from '../types.js';

/** The flags every scenario command has besides its own. */
export interface CommonScenarioArgs {
  backend: string;
  image?: string | undefined;
  json: boolean;
  out: string | undefined;
  force?: boolean | undefined;
  redact?: boolean;
  kernel?: string | undefined;
  'kernel-modules'?: string | undefined;
  'vm-cpus': number;
  'vm-memory': number;
  'dry-run'?: boolean | undefined;
}

/** The common flags of a scenario: where it runs, and where its result goes. */
export function commonFlags(s: ScenarioEntry): Record<string, Options> {
  const docker = s.backends.includes('docker');
  return {
    backend: {
      type: 'string',
      // A netns-only scenario does not offer the backend it would refuse.
      choices: docker ? ['auto', 'netns', 'docker'] : ['auto', 'netns'],
      default: 'auto',
      describe: docker
        ? 'where the hosts run: netns (network namespaces), docker (containers behind a docker0-style bridge), or auto (docker when a daemon answers, else netns)'
        : 'where the nodes run: this scenario has the netns backend only (auto uses it)',
    },
    ...(docker
      ? { image: { type: 'string', describe: 'docker backend: a ready image holding node and the project at /opt/repro (docker/Dockerfile builds one); default: built offline from the host and cached' } }
      : {}),
    kernel: {
      type: 'string',
      describe:
        'run the scenario inside a QEMU guest on this kernel: a bzImage, a kernel .deb, debian (the newest linux-image of this Debian release, fetched with apt-get download) or debian:bullseye|bookworm|trixie (also debian:11 or debian:5.10: that release\'s current kernel, through a private apt sources list); netns backend (docs/kernels.md)',
    },
    'kernel-modules': { type: 'string', describe: "with --kernel FILE (a bzImage): the kernel's lib/modules/<release> directory" },
    'vm-cpus': { type: 'number', default: VM_DEFAULTS.cpus, describe: 'with --kernel: the guest\'s CPUs (the races need 2 or more)' },
    'vm-memory': { type: 'number', default: VM_DEFAULTS.memoryMb, describe: "with --kernel: the guest's memory in MB" },
    json: { type: 'boolean', default: false, describe: 'print result.json alone on stdout (the table and progress still go to stderr)' },
    'dry-run': { type: 'boolean', default: false, describe: 'validate, then print what a run would create (namespaces, links, subnets, rules, containers, networks) on stdout; creates nothing, takes no lock' },
    out: { type: 'string', describe: `result directory (default: results/<time>-${s.name}-<run id>)` },
    force: { type: 'boolean', default: false, describe: 'replace result files already in --out (without it, an existing result is kept and the run refused)' },
    redact: { type: 'boolean', default: false, describe: "leave the machine's host name out of result.json and the reports" },
  } satisfies Record<string, Options>;
}

/**
 * Write result.json (with rates and comparisons), report.md and report.html; the table on stderr, the JSON on
 * stdout with --json. Returns the exit code: EXIT.INTERRUPTED for an interrupted run, else EXIT.OK.
 */
export async function writeAndRender(argv: { json: boolean; out: string | undefined; force?: boolean | undefined; redact?: boolean }, raw: ResultFile): Promise<number> {
  const rows = SCENARIOS[raw.scenario].rows;
  const w = await writeRunOutputs(argv.out ?? defaultResultDir(raw), argv.redact ? redactResult(raw) : raw, rows, argv.force === true);
  process.stderr.write('\n' + renderTerminal(w.result, w.resultFile, rows) + '\n');
  process.stderr.write(`reports: ${w.markdownFile}, ${w.htmlFile}\n`);
  if (argv.json) process.stdout.write(JSON.stringify(w.result, null, 2) + '\n');
  for (const e of w.result.teardownErrors ?? []) process.stderr.write(`repro: teardown: ${e}\n`);
  if (w.result.teardownErrors?.length) return EXIT.FAILED;
  return w.result.interrupted ? EXIT.INTERRUPTED : EXIT.OK;
}

/**
 * The one tail every scenario command shares: validate, check prerequisites, choose the backend, run with
 * Ctrl-C handling (the first stops the run and keeps a partial result, the second cleans up this run and exits),
 * write result.json and the reports, render the table on stderr, the JSON on stdout with --json.
 */
export async function runScenarioCommand(s: ScenarioEntry, argv: CommonScenarioArgs & Record<string, unknown>): Promise<number> {
  // Validated here, on the host, before anything is built or booted.
  const prepared = s.prepare(argv);
  const docker = s.backends.includes('docker');
  if (!docker && argv.backend === 'docker') throw new UserError(`repro ${s.name} runs on the netns backend only: use --backend netns (or auto)`);
  if (argv['dry-run']) {
    if (argv.kernel !== undefined) throw new UserError('--dry-run describes a run on this host: it takes no --kernel');
    process.stdout.write(renderDryRun(s.name, await dryRunPlan(s, argv)) + '\n');
    return EXIT.OK;
  }
  if (argv.out !== undefined) await prepareOutputDir(argv.out, RUN_OUTPUTS, argv.force === true);
  if (argv.kernel !== undefined) return runInGuest(s, argv, prepared.progressNoun);
  await requireNetnsPrerequisites();
  const progress = new ProgressPrinter(process.stderr);
  const chosen = docker ? await chooseBackend(argv.backend, argv.image, (t) => progress.phase(t)) : { backend: 'netns' as const, build: buildNetnsTopology };
  const command = ['repro', ...process.argv.slice(2)].join(' ');
  return runWatched(argv, progress, prepared.progressNoun, (hooks) => prepared.run({ command, backend: chosen.backend, build: chosen.build, hooks }));
}

/**
 * Run with Ctrl-C handling (the first stops the run and keeps a partial result, the second cleans up this run and
 * exits) and progress lines, then write the result files and render.
 */
async function runWatched(
  argv: CommonScenarioArgs, progress: ProgressPrinter, noun: string, run: (hooks: ScenarioHooks) => Promise<ResultFile>,
): Promise<number> {
  const interrupts = handleInterrupts((t) => progress.phase(t));
  try {
    const result = await run({
      onRunId: (id) => interrupts.setRunId(id),
      onPhase: (t) => progress.phase(t),
      onProgress: (p) => progress.progress(p, noun),
      onModeDone: () => progress.endLine(),
      signal: interrupts.signal,
    });
    progress.endLine();
    return await writeAndRender(argv, result);
  } finally {
    progress.endLine();
    interrupts.dispose();
  }
}

/** `--kernel`: the same scenario inside a VM on another kernel (src/vm); its result is the guest's. */
async function runInGuest(s: ScenarioEntry, argv: CommonScenarioArgs, noun: string): Promise<number> {
  if (argv.backend === 'docker') throw new UserError('--kernel runs the netns backend inside the VM: use --backend netns (or auto)');
  const words = process.argv.slice(2);
  return runWatched(argv, new ProgressPrinter(process.stderr), noun, (hooks) =>
    runScenarioInVm({
      scenario: s.name,
      // The words after the scenario's name; the VM's own and the host-side options are left out for the guest.
      args: words.slice(words.indexOf(s.name) + 1),
      kernel: argv.kernel ?? '',
      ...(argv['kernel-modules'] !== undefined ? { modulesDir: argv['kernel-modules'] } : {}),
      cpus: argv['vm-cpus'],
      memoryMb: argv['vm-memory'],
      ...defaultDuration(s),
      command: ['repro', ...words].join(' '),
      ...hooks,
    }),
  );
}

/** The scenario's default --duration, which a TCG guest raises when the user gave none (src/vm/runInVm.ts). */
function defaultDuration(s: ScenarioEntry): { defaultDurationSec?: number } {
  const d = (s.flags as Record<string, Options | undefined>)['duration']?.default;
  return typeof d === 'number' ? { defaultDurationSec: d } : {};
}

/** One yargs command per registered scenario, from its flag table; setExit receives its exit code. */
export function registerScenarioCommands<T>(y: Argv<T>, setExit: (code: number) => void): Argv<T> {
  let out = y;
  for (const s of Object.values(SCENARIOS)) {
    out = out.command(
      s.name,
      s.describe,
      (a) => a.options({ ...commonFlags(s), ...s.flags }),
      async (argv) => setExit(await runScenarioCommand(s, argv as unknown as CommonScenarioArgs & Record<string, unknown>)),
    ) as Argv<T>;
  }
  return out;
}
