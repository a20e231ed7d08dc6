import { access } from 'node:fs/promises';
import { run, CommandNotFoundError } from '../host/exec.js';
import { parseIptablesVersion } from '../host/iptables.js';
import { ConntrackStatsError, readConntrackStatVia, type ConntrackStatsSource } from '../host/conntrackStat.js';
import { HOST_NETNS } from '../host/exec.js';
import { errorMessage } from '../errors.js';
import { nativeConnectMissing } from '../agents/tcp/nativeConnect.js';
import { nativeDnsMissing } from '../agents/dns/nativeDns.js';
import { hookCandidates } from '../node/trace/tracer.js';
import { HOOK_NAMES } from '../node/trace/program.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix: string;
}

async function tryRun(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run(cmd, args, { check: false, timeoutMs: 5000 });
    return { ok: r.code === 0, out: (r.stdout + r.stderr).trim() };
  } catch (err) {
    return { ok: false, out: err instanceof CommandNotFoundError ? 'not found' : String(err) };
  }
}

export type SourceProbe = { ok: true; columns: string[] } | { ok: false; reason: string };

const NOT_LOADED = /not loaded/;

/**
 * Both sources of the conntrack stats, each on its own line; a failure only when neither can be read. Before
 * nf_conntrack is loaded neither can, and that is fine: a run loads it through its NAT rule.
 */
export function conntrackStatsCheck(procfs: SourceProbe, netlink: SourceProbe): Check {
  const line = (name: string, p: SourceProbe): string =>
    p.ok ? `${name}: ${p.columns.includes('insert_failed') ? '' : 'no insert_failed column; '}${p.columns.join(' ')}` : `${name}: ${p.reason}`;
  const detail = `${line('procfs', procfs)}\n${line('netlink (conntrack -S)', netlink)}`;
  const readable = (p: SourceProbe): boolean => p.ok && p.columns.includes('insert_failed');
  const notLoaded = !procfs.ok && !netlink.ok && NOT_LOADED.test(procfs.reason) && NOT_LOADED.test(netlink.reason);
  return {
    name: 'conntrack stats',
    ok: readable(procfs) || readable(netlink) || notLoaded,
    detail,
    fix: 'apt-get install conntrack (netlink source) or a kernel with CONFIG_NF_CONNTRACK_PROCFS; modprobe nf_conntrack',
  };
}

/** Every prerequisite, with the fix for each one that fails. */
export async function doctorChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  checks.push({ name: 'root', ok: root, detail: root ? 'running as root' : `uid ${process.getuid?.() ?? '?'}`, fix: 'run repro as root (sudo)' });

  const ip = await tryRun('ip', ['-V']);
  checks.push({ name: 'iproute2', ok: ip.ok, detail: ip.out.split('\n')[0] ?? '', fix: 'apt-get install iproute2' });

  const ipt = await tryRun('iptables', ['--version']);
  let iptDetail = ipt.out;
  let iptOk = ipt.ok;
  if (ipt.ok) {
    try {
      const info = parseIptablesVersion(ipt.out);
      iptDetail = `${info.version} (${info.backend})`;
      if (info.backend !== 'nf_tables') {
        iptDetail += ': legacy backend; results are valid but DESIGN targets nf_tables';
      }
    } catch {
      iptOk = false;
    }
  }
  checks.push({ name: 'iptables', ok: iptOk, detail: iptDetail, fix: 'apt-get install iptables' });

  const restore = await tryRun('iptables-restore', ['--version']);
  checks.push({ name: 'iptables-restore', ok: restore.ok, detail: restore.out.split('\n')[0] ?? '', fix: 'apt-get install iptables' });

  const ct = await tryRun('conntrack', ['--version']);
  checks.push({ name: 'conntrack', ok: ct.ok, detail: ct.out.split('\n')[0] ?? '', fix: 'apt-get install conntrack' });

  const probe = (source: ConntrackStatsSource): Promise<SourceProbe> =>
    readConntrackStatVia(HOST_NETNS, source).then(
      (stat) => ({ ok: true, columns: stat.columns }),
      (err: unknown) => ({ ok: false, reason: err instanceof ConntrackStatsError ? (err.reasons[source] ?? err.message) : errorMessage(err) }),
    );
  const [procfs, netlink] = await Promise.all([probe('procfs'), probe('netlink')]);
  checks.push(conntrackStatsCheck(procfs, netlink));

  let netnsOk = true;
  try {
    await access('/proc/sys/net/ipv4/ip_local_port_range');
  } catch {
    netnsOk = false;
  }
  checks.push({ name: 'network namespaces', ok: netnsOk, detail: netnsOk ? 'available' : '/proc/sys/net missing', fix: 'run on a Linux host with CONFIG_NET_NS' });

  const ethtool = await tryRun('ethtool', ['--version']);
  checks.push({
    name: 'ethtool (optional)',
    ok: ethtool.ok,
    detail: ethtool.ok ? ethtool.out.split('\n')[0] ?? '' : 'missing: needed by repro vxlan only (checksum offloads of its own devices)',
    fix: 'apt-get install ethtool',
  });

  const engineMissing = nativeConnectMissing();
  checks.push({
    name: 'connect engine (optional)',
    ok: engineMissing === null,
    detail: engineMissing === null ? 'native (dist/native/connect_engine.node)' : `${engineMissing}: TCP clients fall back to libuv handles from JS (fewer connects/s)`,
    fix: 'apt-get install make gcc python3, then npm run build',
  });

  const dnsEngineMissing = nativeDnsMissing();
  checks.push({
    name: 'dns engine (optional)',
    ok: dnsEngineMissing === null,
    detail: dnsEngineMissing === null ? 'native (dist/native/dns_engine.node)' : `${dnsEngineMissing}: raw DNS clients fall back to libuv handles from JS (fewer lookups/s)`,
    fix: 'apt-get install make gcc python3, then npm run build',
  });

  checks.push(await bpftraceCheck());

  const docker = await tryRun('docker', ['version', '--format', '{{.Server.Version}}']);
  checks.push({
    name: 'docker (optional)',
    ok: docker.ok,
    detail: docker.ok ? `daemon ${docker.out}` : 'no daemon answers: the netns backend will be used',
    fix: 'apt-get install docker.io && dockerd & (only for --backend docker)',
  });
  return checks;
}

/** repro trace and watch --trace: bpftrace, and the hook this kernel allows (the first one trace will try). */
async function bpftraceCheck(): Promise<Check> {
  const v = await tryRun('bpftrace', ['--version']);
  const fix = 'apt-get install bpftrace (for repro trace and watch --trace); a kernel with BTF; mount -t tracefs nodev /sys/kernel/tracing';
  if (!v.ok) return { name: 'bpftrace (optional)', ok: false, detail: `${v.out}: needed by repro trace and watch --trace only`, fix };
  const { usable, refused } = await hookCandidates();
  const first = usable[0];
  const detail = `${v.out.split('\n')[0] ?? ''}; hook: ${first ? HOOK_NAMES[first.hook] : 'none'}${refused.length ? `\nnot here: ${refused.join('; ')}` : ''}`;
  return { name: 'bpftrace (optional)', ok: first !== undefined, detail, fix };
}

export const DOCTOR_SCHEMA = 'repro/doctor@1';

/** A check whose failure does not fail doctor (a fallback exists). */
export const isOptional = (c: Check): boolean => c.name.endsWith('(optional)');

/** `doctor --json`: every check with its fix, and whether the required ones pass. */
export function doctorJson(checks: readonly Check[], at: { version: string; host: string; time: Date }): object {
  return {
    schema: DOCTOR_SCHEMA,
    version: at.version,
    host: at.host,
    time: at.time.toISOString(),
    ok: checks.every((c) => c.ok || isOptional(c)),
    checks: checks.map((c) => ({ name: c.name.replace(/ \(optional\)$/, ''), ok: c.ok, optional: isOptional(c), detail: c.detail, ...(c.ok ? {} : { fix: c.fix }) })),
  };
}

export function renderChecks(checks: readonly Check[]): string {
  const width = Math.max(0, ...checks.map((c) => c.name.length));
  return checks
    // A detail of several lines keeps its column.
    .map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail.replace(/\n/g, `\n${' '.repeat(width + 8)}`)}${c.ok ? '' : `\n      fix: ${c.fix}`}`)
    .join('\n');
}
