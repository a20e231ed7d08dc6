import { rm } from 'node:fs/promises';
import { deleteNetnsAndLinks, listLinks, listNetns, waitLinksGone } from '../backends/netns/namespaces.js';
import { LINK_PATTERN, NETNS_PATTERN } from '../host/names.js';
import { dropTablesCreatedByRun, ownedByAnyRun, ownedByRun, removeRules } from '../host/iptables.js';
import { deleteEntriesFromSubnet } from '../host/conntrackTable.js';
import { readAllRunStates } from '../runner/runState.js';
import { removeStaleLock } from '../runner/runLock.js';
import { connectDocker, dockerAnswers } from '../backends/docker/daemon.js';
import { removeDockerLeftovers } from '../backends/docker/topology.js';
import { removeResolverDirs } from '../backends/netns/resolverFiles.js';
import { cleanupVms } from '../vm/lifecycle.js';
import { removeLeftoverCaptures } from '../host/capture.js';
import { endLeftoverTracers } from '../node/trace/tracerState.js';

export interface CleanupReport {
  containers: string[];
  networks: string[];
  netns: string[];
  links: string[];
  iptables: number;
  conntrackEntries: number;
  stateFiles: string[];
  /** VMs of `--kernel` runs whose runner is gone (QEMU killed, work directory removed). */
  vms: string[];
  /** Runs whose SYN capture (tcpdump and its directory) was left and removed. */
  captures: string[];
  /** Processes (bpftrace, conntrack -E) of a `repro trace`/`watch --trace` that was killed (pids, from their state files). */
  tracers: number[];
  /** True when a lock left by a dead run was removed. */
  staleLock: boolean;
}

/**
 * Remove what runs left behind, found by the harness's own names and tags only:
 * containers and Docker networks labelled repro.run=<id>, namespaces repro-<id>-*, links rp<id>-*, chains REPRO-*-<id> and the jumps tagged repro:<id>,
 * conntrack entries from the subnets recorded in /run/repro state files. `runId` limits it to one run.
 */
export async function cleanup(runId?: string): Promise<CleanupReport> {
  // A run whose process is still alive is not a leftover: without a run id, cleanup leaves it alone.
  const states = await readAllRunStates();
  const live = new Set(
    runId === undefined ? states.filter((s) => s.state.pid !== process.pid && isAlive(s.state.pid)).map((s) => s.state.runId) : [],
  );
  const matchesRun = (m: RegExpExecArray | null): boolean =>
    m !== null && (runId === undefined ? !live.has(m[1] ?? '') : m[1] === runId);
  const vms = await cleanupVms(runId);
  // Tracers are not runs: ended only when their repro is gone, whatever --run says.
  const tracers = runId === undefined ? await endLeftoverTracers() : [];
  const captures = await removeLeftoverCaptures((id) => (runId === undefined ? !live.has(id) : id === runId));
  // Docker first: removing its networks removes their bridges, which would otherwise look like stray links.
  let docker = { containers: [] as string[], networks: [] as string[] };
  if (await dockerAnswers(1500)) {
    const { docker: client } = await connectDocker();
    docker = await removeDockerLeftovers(client, runId, live);
  }
  const netns = (await listNetns()).filter((n) => matchesRun(NETNS_PATTERN.exec(n)));
  const links = (await listLinks()).filter((l) => matchesRun(LINK_PATTERN.exec(l)));
  const removed = await deleteNetnsAndLinks(netns, links);
  await waitLinksGone(links);
  // `repro dns` gives each client namespace a resolv.conf in /etc/netns/<namespace>/.
  await removeResolverDirs((n) => matchesRun(NETNS_PATTERN.exec(n)));
  const liveOwners = [...live].map((id) => ownedByRun(id));
  const iptables = await removeRules(
    runId === undefined ? (name) => ownedByAnyRun(name) && !liveOwners.some((owns) => owns(name)) : ownedByRun(runId),
  );
  let conntrackEntries = 0;
  const stateFiles: string[] = [];
  for (const { path, state } of states) {
    if (runId !== undefined ? state.runId !== runId : live.has(state.runId)) continue;
    for (const s of state.subnets) conntrackEntries += await deleteEntriesFromSubnet(s).catch(() => 0);
    await dropTablesCreatedByRun(state.tables ?? []);
    await rm(path, { force: true });
    stateFiles.push(path);
  }
  return {
    containers: docker.containers,
    networks: docker.networks,
    netns: removed.filter((n) => netns.includes(n)),
    links: removed.filter((l) => links.includes(l)),
    iptables,
    conntrackEntries,
    stateFiles,
    vms,
    captures,
    tracers,
    staleLock: await removeStaleLock(),
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
    ...(r.tracers.length > 0 ? [`${r.tracers.length} tracer processes (bpftrace, conntrack -E)`] : []),
    ...(r.staleLock ? ['the stale run lock'] : []),
  ];
  return `removed ${parts.join(', ')}`;
}
