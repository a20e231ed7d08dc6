import { UserError } from '../errors.js';
import { containerPid } from '../host/containerPid.js';
import { netnsMissing } from '../host/conntrackStat.js';
import { HOST_NETNS, type NetnsRef } from '../host/exec.js';

/** --netns / --pid / --container as given on the command line (each may repeat where the command allows). */
export interface TargetArgs {
  netns?: string[] | string | undefined;
  pid?: (number | string)[] | number | string | undefined;
  container?: string[] | string | undefined;
}

function optionOf(r: NetnsRef): string {
  if (r.kind === 'netns') return `--netns ${r.name}`;
  if (r.kind === 'pid') return r.label?.startsWith('container:') ? `--container ${r.label.slice(10)}` : `--pid ${r.pid}`;
  return 'host';
}

const list = <T>(v: T[] | T | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * The namespaces a read-only command reads: the named ones, the pids' and the containers' (the host's when none is
 * given). One that does not exist is a bad argument (exit 2), said in one line.
 */
export async function resolveTargets(a: TargetArgs, opts: { single: boolean }): Promise<NetnsRef[]> {
  const refs: NetnsRef[] = [];
  for (const name of list(a.netns)) {
    if (!/^[\w.-]+$/.test(name)) throw new UserError(`--netns "${name}": not a namespace name`);
    refs.push({ kind: 'netns', name });
  }
  for (const p of list(a.pid)) {
    const pid = Number(p);
    if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`--pid "${String(p)}": not a process id`);
    refs.push({ kind: 'pid', pid });
  }
  for (const id of list(a.container)) refs.push({ kind: 'pid', pid: await containerPid(id), label: `container:${id}` });
  if (opts.single && refs.length > 1) throw new UserError('give one of --netns, --pid or --container, once');
  for (const r of refs) {
    const missing = await netnsMissing(r);
    if (missing) throw new UserError(`${optionOf(r)}: ${missing}`);
  }
  return refs.length > 0 ? refs : [HOST_NETNS];
}
