import type { Argv } from 'yargs';
import { requireNetnsPrerequisites } from '../../host/preflight.js';
import { runDns } from './run.js';
import { chooseBackend } from '../../backends/choose.js';
import { dnsExtrasFor } from '../../backends/dnsExtras.js';
import { DNS_MODES } from './modes.js';
import { runScenarioCommand } from '../../commands/scenarioCommand.js';
import { DNS_CLIENTS, DNS_DEFAULTS, validateDnsArgs, type DnsArgs } from './options.js';

export type DnsCliArgs = DnsArgs & { backend: string; json: boolean; out: string | undefined };

export function dnsCliOptions(y: Argv): Argv<DnsCliArgs> {
  const d = DNS_DEFAULTS;
  return y
    .option('backend', { type: 'string', choices: ['auto', 'netns', 'docker'], default: 'auto', describe: 'where the hosts run: netns (network namespaces), docker (containers behind a docker0-style bridge), or auto (docker when a daemon answers, else netns)' })
    .option('client', { type: 'string', choices: [...DNS_CLIENTS], default: d.client, describe: "libc: glibc's getaddrinfo with a resolv.conf per client; raw: A+AAAA back to back from a fresh UDP socket, glibc's timing; burst: lockstep workers sending from one source port at once" })
    .option('modes', { type: 'string', describe: `configurations to compare, comma-separated, from: ${DNS_MODES.join(', ')} [default: all of them with --client libc; none,random,random-fully,notrack otherwise]` })
    .option('clients', { type: 'number', default: d.clients, describe: 'client hosts behind the NAT (1-64)' })
    .option('workers', { type: 'number', default: d.workers, describe: 'worker threads per client (1-32; burst: the sockets that share a source port)' })
    .option('concurrency', { type: 'number', default: d.concurrency, describe: 'lookups in flight per worker (1-1024; burst workers move in lockstep)' })
    .option('queries', { type: 'number', default: d.queries, describe: 'lookups per mode over all clients (burst: queries)' })
    .option('duration', { type: 'number', default: d.duration, describe: 'seconds of load per mode at most; a mode stops at --queries or --duration, whichever comes first' })
    .option('backends', { type: 'number', default: d.backends, describe: 'DNS service endpoints behind the VIP (1-26)' })
    .option('vip', { type: 'string', choices: ['on', 'off'], default: d.vip, describe: "on: clients ask a service VIP the host DNATs to the backends at random (kube-proxy's iptables shape); off: they ask the first backend" })
    .option('zone', { type: 'string', default: d.zone, describe: 'the test zone the server answers (A and AAAA for every name below it, NXDOMAIN elsewhere)' })
    .option('server-workers', { type: 'number', default: d['server-workers'], describe: "processes reading the DNS server's shared sockets" })
    .option('port', { type: 'number', default: d.port, describe: 'UDP/TCP port of the DNS service' })
    .option('detect-rate', { type: 'number', default: d['detect-rate'], describe: 'race rate per 100 000 lookups that a not-reproduced verdict must rule out (95 %)' })
    .option('json', { type: 'boolean', default: false, describe: 'print result.json alone on stdout (the table and progress still go to stderr)' })
    .option('out', { type: 'string', describe: 'result directory (default: results/<time>-dns-<run id>)' }) as unknown as Argv<DnsCliArgs>;
}

/** `repro dns`: validate, check prerequisites, then run, write and render (src/commands/scenarioCommand.ts). */
export async function dnsCommand(argv: DnsCliArgs): Promise<number> {
  const opts = validateDnsArgs(argv);
  await requireNetnsPrerequisites();
  const { build } = await chooseBackend(argv.backend, undefined, (t) => process.stderr.write(`· ${t}\n`));
  return runScenarioCommand(argv, opts.client === 'burst' ? 'queries' : 'lookups', (command, hooks) => runDns(opts, command, build, dnsExtrasFor, hooks));
}
