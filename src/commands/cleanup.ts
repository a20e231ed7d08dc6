import { rm } from 'node:fs/promises';
import { deleteNetnsAndLinks, listLinks, listNetns, waitLinksGone } from '../backends/netns/namespaces.js';
import { LINK_PATTERN, NETNS_PATTERN } from '../host/names.js';
import { dropTablesCreatedByRun, ownedByRun, removeRules } from '../host/iptables.js';
import { RunLock } from '../runner/runLock.js';
import { UserError } from '../errors.js';
import { deleteEntriesFromSubnet } from '../host/conntrackTable.js';
import { readAllRunStates } from '../runner/runState.js';
import { connectDocker, dockerAnswers } from '../backends/docker/daemon.js';
import { removeDockerLeftovers } from '../backends/docker/topology.js';
import { removeResolverDirs } from '../backends/netns/resolverFiles.js';
import { cleanupVms } from '../vm/lifecycle.js';
import { removeLeftoverCaptures } from '../host/capture.js';

export interface CleanupReport {
  /** Only listed, nothing removed (--dry-run). */
  dryRun: boolean;
  containers: string[];
  networks: string[];
  netns: string[];
  links: string[];
  iptables: number;
  /** Subnets whose conntrack entries went (or would go), and how many went. */
  conntrackSubnets: string[];
  conntrackEntries: number;
  stateFiles: string[];
  /** VMs of `--kernel` runs whose runner is gone (QEMU killed, work directory removed); not listed by a dry run. */
  vms: string[];
  /** Runs whose SYN capture (tcpdump and its directory) was left and removed. */
  captures: string[];
}

export interface CleanupOptions {
  /** List what would go, remove nothing. */
  dryRun?: boolean;
  /** The caller holds the run lock already (a run cleaning up after itself on a second Ctrl-C). */
  holdsLock?: boolean;
}

const RUN_ID = /^[0-9a-f]{6}$/;

/**
 * Remove what runs left behind. It takes the run lock first (a run starting meanwhile would lose what it just
 * made), and decides by two things at once: the state file a run writes (/run/repro/<id>.json) before each thing
 * it creates, and the exact shape of the harness's names (repro-<id>-<role>, rp<id>-<role>, REPRO-<WORD>-<id>,
 * comments repro:<id> whole, the repro.run label's value). Runs without a state file are not touched unless named
 * with `runId`. A live run (its pid alive) is left alone. `dryRun` lists instead of removing.
 */
export async function cleanup(runId?: string, opts: CleanupOptions = {}): Promise<CleanupReport> {
  if (runId !== undefined && !RUN_ID.test(runId)) throw new UserError(`--run must be a run id of 6 hex digits, got "${runId}"`);
  const lock = opts.holdsLock ? null : await RunLock.acquire(`repro cleanup${runId ? ` --run ${runId}` : ''}${opts.dryRun ? ' --dry-run' : ''}`);
  try {
    return await cleanupLocked(runId, opts.dryRun === true);
  } finally {
    lock?.releaseSync();
  }
}

async function cleanupLocked(runId: string | undefined, dryRun: boolean): Promise<CleanupReport> {
  const states = (await readAllRunStates()).filter(
    ({ state }) => RUN_ID.test(state.runId) && (runId !== undefined ? state.runId === runId : state.pid === process.pid || !isAlive(state.pid)),
  );
  const ids = new Set(states.map((s) => s.state.runId));
  if (runId !== undefined) ids.add(runId);
  // Every name the runs recorded (the netns backend records its links with its namespaces).
  const listed = new Set(states.flatMap((s) => [...s.state.netns, ...s.state.links, ...s.state.containers, ...s.state.networks]));
  // Recorded by a run, or (for the run named with --run) of that run's exact shape.
  const owned = (name: string, id: string | undefined): boolean => id !== undefined && ids.has(id) && (listed.has(name) || id === runId);
  const vms = dryRun ? [] : await cleanupVms(runId);
  const captures = await removeLeftoverCaptures((id) => ids.has(id), dryRun);
  // Docker first: removing its networks removes their bridges, which would otherwise look like stray links.
  let docker = { containers: [] as string[], networks: [] as string[] };
  if (await dockerAnswers(1500)) {
    const { docker: client } = await connectDocker();
    docker = await removeDockerLeftovers(client, owned, dryRun);
  }
  const netns = (await listNetns()).filter((n) => owned(n, NETNS_PATTERN.exec(n)?.[1]));
  const links = (await listLinks()).filter((l) => owned(l, LINK_PATTERN.exec(l)?.[1]));
  let removedNetns = netns;
  let removedLinks = links;
  if (!dryRun) {
    const removed = await deleteNetnsAndLinks(netns, links);
    await waitLinksGone(links);
    removedNetns = removed.filter((n) => netns.includes(n));
    removedLinks = removed.filter((l) => links.includes(l));
  }
  // `repro dns` gives each client namespace a resolv.conf in /etc/netns/<namespace>/.
  await removeResolverDirs((n) => owned(n, NETNS_PATTERN.exec(n)?.[1]), dryRun);
  const owners = [...ids].map((id) => ownedByRun(id));
  const iptables = await removeRules((name) => owners.some((owns) => owns(name)), null, dryRun);
  let conntrackEntries = 0;
  const conntrackSubnets: string[] = [];
  const stateFiles: string[] = [];
  for (const { path, state } of states) {
    conntrackSubnets.push(...state.subnets);
    stateFiles.push(path);
    if (dryRun) continue;
    for (const s of state.subnets) conntrackEntries += await deleteEntriesFromSubnet(s).catch(() => 0);
    await dropTablesCreatedByRun(state.tables ?? []);
    await rm(path, { force: true });
  }
  return {
    dryRun,
    containers: docker.containers,
    networks: docker.networks,
    netns: removedNetns,
    links: removedLinks,
    iptables,
    conntrackSubnets,
    conntrackEntries,
    stateFiles,
    vms,
    captures,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function describeCleanup(r: CleanupReport): string {
  if (r.dryRun) {
    const list = (what: string, names: readonly string[]): string => `${what} (${names.length})${names.length > 0 ? `: ${names.join(' ')}` : ''}`;
    return [
      'would remove (--dry-run: nothing removed):',
      `  ${list('containers', r.containers)}`,
      `  ${list('docker networks', r.networks)}`,
      `  ${list('namespaces', r.netns)}`,
      `  ${list('links', r.links)}`,
      `  iptables rules/chains (${r.iptables})`,
      `  ${list('conntrack entries from subnets', r.conntrackSubnets)}`,
      `  ${list('state files', r.stateFiles)}`,
      `  ${list('SYN captures of runs', r.captures)}`,
      '  VMs of --kernel runs: not listed by --dry-run',
    ].join('\n');
  }
  const parts = [
    `${r.containers.length} containers`,
    `${r.networks.length} docker networks`,
    `${r.netns.length} namespaces`,
    `${r.links.length} links`,
    `${r.iptables} iptables rules/chains`,
    `${r.conntrackEntries} conntrack entries`,
    `${r.stateFiles.length} state files`,
    ...(r.vms.length > 0 ? [`${r.vms.length} VMs`] : []),
    ...(r.captures.length > 0 ? [`the SYN captures of ${r.captures.length} runs`] : []),
  ];
  return `removed ${parts.join(', ')}`;
}
