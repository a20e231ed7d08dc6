import type { Argv } from 'yargs';
import { UserError } from '../../errors.js';
import { requireNetnsPrerequisites } from '../../host/preflight.js';
import { runVxlan } from './run.js';
import { runScenarioCommand } from '../../commands/scenarioCommand.js';
import { VXLAN_DEFAULTS, validateVxlanArgs, type VxlanArgs } from './options.js';

export type VxlanCliArgs = VxlanArgs & { backend: string; json: boolean; out: string | undefined };

export function vxlanCliOptions(y: Argv): Argv<VxlanCliArgs> {
  const d = VXLAN_DEFAULTS;
  return y
    .option('backend', { type: 'string', choices: ['auto', 'netns', 'docker'], default: 'auto', describe: 'where the nodes run: this scenario has the netns backend only (auto uses it)' })
    .option('modes', { type: 'string', default: d.modes, describe: 'comma-separated modes <legacy|patched>[+none|+random|+random-fully][+offload-off]: KUBE-POSTROUTING before/after kubernetes#92035, the MASQUERADE flag (default random-fully), tx checksum offload off on the vxlan devices' })
    .option('connections', { type: 'number', default: d.connections, describe: 'connects per mode from node A (host network) to the service backed by pod B' })
    .option('workers', { type: 'number', default: d.workers, describe: 'worker threads of the client (1-32)' })
    .option('concurrency', { type: 'number', default: d.concurrency, describe: 'connects in flight per worker (1-1024)' })
    .option('duration', { type: 'number', default: d.duration, describe: 'seconds per mode at most; a mode stops at --connections or --duration, whichever comes first' })
    .option('connect-timeout', { type: 'number', default: d['connect-timeout'], describe: 'ms before a connect is given up as ETIMEDOUT (70000 keeps the 1 s ... 63 s SYN-retransmit signatures)' })
    .option('server-workers', { type: 'number', default: d['server-workers'], describe: "processes accepting on pod B's listener" })
    .option('port', { type: 'number', default: d.port, describe: "pod B's TCP port (the service's endpoint)" })
    .option('service-port', { type: 'number', default: d['service-port'], describe: "the service's port on its ClusterIP" })
    .option('vxlan-port', { type: 'number', default: d['vxlan-port'], describe: "the vxlan devices' UDP port (flannel: 8472)" })
    .option('json', { type: 'boolean', default: false, describe: 'print result.json alone on stdout (the table and progress still go to stderr)' })
    .option('out', { type: 'string', describe: 'result directory (default: results/<time>-vxlan-<run id>)' }) as unknown as Argv<VxlanCliArgs>;
}

/** `repro vxlan`: validate, check prerequisites, then run, write and render (src/commands/scenarioCommand.ts). */
export async function vxlanCommand(argv: VxlanCliArgs): Promise<number> {
  const opts = validateVxlanArgs(argv);
  if (argv.backend === 'docker') throw new UserError('repro vxlan runs on the netns backend only: use --backend netns (or auto)');
  await requireNetnsPrerequisites();
  return runScenarioCommand(argv, 'connects', (command, hooks) => runVxlan(opts, command, hooks));
}
