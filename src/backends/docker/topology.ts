import { PassThrough } from 'node:stream';
import { readFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { AgentConnection } from '../../runner/agentConnection.js';
import { run } from '../../host/exec.js';
import { parseNetCounters } from '../../host/netstat.js';
import { readConntrackStatIn } from '../../host/conntrackStat.js';
import { deleteEntriesFromSubnet } from '../../host/conntrackTable.js';
import { formatPrefix, hostAddress, parsePrefix, pickFreeSubnets, prefixesInUse, type Prefix } from '../../host/subnets.js';
import { NETNS_PATTERN, containerName, linkName } from '../../host/names.js';
import { UserError, errorMessage } from '../../errors.js';
import type { RunStateFile } from '../../runner/runState.js';
import type { TestHost, Topology, TopologyRequest } from '../topology.js';
import type { AgentName } from '../../agents/common/protocol.js';
import { dockerResolverFiles } from './resolverFiles.js';
import { IMAGE_NODE, IMAGE_PROJECT_DIR, ensureAgentImage } from './image.js';

/** Label on every container and network the harness creates: its run id. */
export const RUN_LABEL = 'repro.run';

/** CPU weights: Docker's default, and eight times it for high-priority containers (the server). */
const NORMAL_SHARES = 1024;
const HIGH_PRIORITY_SHARES = 8 * NORMAL_SHARES;

/** The container's main process: the agents run beside it through `docker exec`, so counters and the
 * container's network namespace stay the same across modes. It exits when the container is removed. */
const IDLE = ['-e', 'setInterval(() => undefined, 1 << 30)'];

export interface DockerTopologyOptions {
  docker: Docker;
  version: string;
  /** A ready image (`--image`); otherwise the offline-built, cached one. */
  image?: string | undefined;
  onPhase?: (text: string) => void;
}

/** Subnets of the daemon's existing networks: a bridge with no container may have no route yet. */
async function dockerSubnets(docker: Docker): Promise<Prefix[]> {
  const out: Prefix[] = [];
  for (const n of await docker.listNetworks()) {
    for (const c of n.IPAM?.Config ?? []) {
      if (c.Subnet && /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c.Subnet)) out.push(parsePrefix(c.Subnet));
    }
  }
  return out;
}

async function containerPid(docker: Docker, name: string): Promise<number> {
  const info = await docker.getContainer(name).inspect();
  if (!info.State.Running || !info.State.Pid) throw new Error(`container ${name} is not running`);
  return info.State.Pid;
}

/** Run an agent inside a container with `docker exec`; stdout/stderr demultiplexed (no TTY). */
async function execAgent(docker: Docker, container: string, label: string, agent: AgentName, config: object): Promise<AgentConnection> {
  const exec = await docker.getContainer(container).exec({
    Cmd: [IMAGE_NODE, `${IMAGE_PROJECT_DIR}/dist/agents/${agent}.js`, JSON.stringify(config)],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const stream = await exec.start({ hijack: true, stdin: true });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const exited = new Promise<number>((resolve) => {
    const done = (): void => {
      stdout.end();
      stderr.end();
      exec.inspect().then((i) => resolve(i.ExitCode ?? 1), () => resolve(1));
    };
    stream.once('end', done);
    stream.once('close', done);
    stream.once('error', done);
  });
  // The stream is a duplex socket: writing is the agent's stdin, half-closing it is the agent's EOF.
  const stdin = new PassThrough();
  stdin.on('data', (d: Buffer) => stream.write(d));
  stdin.on('finish', () => (stream as unknown as { end(): void }).end());
  return new AgentConnection(label, {
    stdin,
    stdout,
    stderr,
    exited,
    kill: () => {
      void exec.inspect().then((i) => {
        if (i.Running && i.Pid) process.kill(i.Pid, 'SIGKILL');
      }).catch(() => undefined);
    },
  });
}

/**
 * The docker backend: a client network that behaves like docker0 (a Linux bridge of its own, but with Docker's
 * own MASQUERADE switched off so the harness's rule is the only one), a server network, K client containers
 * and a server container, all labelled with the run id. Agents run inside the containers through `docker exec`.
 */
export async function buildDockerTopology(req: TopologyRequest, state: RunStateFile, o: DockerTopologyOptions): Promise<Topology> {
  const { docker } = o;
  const phase = o.onPhase ?? (() => undefined);
  const t0 = Date.now();
  const image = o.image ?? (await ensureAgentImage(docker, phase)).name;
  const [clientPrefix, serverPrefix] = pickFreeSubnets([...(await prefixesInUse()), ...(await dockerSubnets(docker))], 2);
  if (!clientPrefix || !serverPrefix) throw new UserError('no free subnet for the harness');
  const clientSubnet = formatPrefix(clientPrefix);
  const serverSubnet = formatPrefix(serverPrefix);
  await state.add('subnets', clientSubnet);
  await state.add('subnets', serverSubnet);

  const names = {
    clientNet: containerName(req.runId, 'clients'),
    serverNet: containerName(req.runId, 'server'),
    clientBridge: linkName(req.runId, 'cbr'),
    serverBridge: linkName(req.runId, 'sbr'),
  };
  const clients: TestHost[] = Array.from({ length: req.clients }, (_, i) => ({
    role: 'client',
    name: containerName(req.runId, `c${i}`),
    address: hostAddress(clientPrefix, 10 + i),
  }));
  const server: TestHost = { role: 'server', name: containerName(req.runId, 'srv'), address: hostAddress(serverPrefix, 2) };
  const labels = { [RUN_LABEL]: req.runId };
  const pids = new Map<string, number>();

  const teardown = async (): Promise<void> => {
    for (const c of [...clients, server]) {
      await docker.getContainer(c.name).remove({ force: true }).catch(() => undefined);
    }
    for (const n of [names.clientNet, names.serverNet]) {
      await docker.getNetwork(n).remove().catch(() => undefined);
    }
  };

  const createNetwork = async (name: string, bridge: string, prefix: Prefix): Promise<void> => {
    await state.add('networks', name);
    await state.add('links', bridge);
    try {
      await docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: labels,
        IPAM: { Driver: 'default', Config: [{ Subnet: formatPrefix(prefix), Gateway: hostAddress(prefix, 1) }] },
        Options: {
          'com.docker.network.bridge.name': bridge,
          // Like docker0 but without Docker's own MASQUERADE: the rule under test is the harness's.
          'com.docker.network.bridge.enable_ip_masquerade': 'false',
        },
      });
    } catch (err) {
      throw new UserError(`docker refused network ${name} (${formatPrefix(prefix)}): ${errorMessage(err).split('\n')[0] ?? ''}`);
    }
  };

  const createContainer = async (host: TestHost, network: string, sysctls: Record<string, string>, shares: number): Promise<void> => {
    await state.add('containers', host.name);
    try {
      const c = await docker.createContainer({
        name: host.name,
        Image: image,
        Entrypoint: [IMAGE_NODE],
        Cmd: IDLE,
        Labels: labels,
        HostConfig: { NetworkMode: network, Sysctls: sysctls, CpuShares: shares, Init: false },
        NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: host.address } } } },
      });
      await c.start();
      pids.set(host.name, await containerPid(docker, host.name));
    } catch (err) {
      throw new UserError(`docker could not start container ${host.name}: ${errorMessage(err).split('\n')[0] ?? ''}`);
    }
  };

  try {
    await createNetwork(names.clientNet, names.clientBridge, clientPrefix);
    await createNetwork(names.serverNet, names.serverBridge, serverPrefix);
    const clientSysctls = { 'net.ipv4.ip_local_port_range': `${req.portRange[0]} ${req.portRange[1]}`, ...req.clientSysctls };
    await createContainer(server, names.serverNet, req.serverSysctls, HIGH_PRIORITY_SHARES);
    await Promise.all(clients.map((c) => createContainer(c, names.clientNet, clientSysctls, NORMAL_SHARES)));
  } catch (err) {
    await teardown();
    throw err;
  }
  phase(`docker ${o.version}: image ${image}, ${req.clients + 1} containers up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const rootDir = async (host: TestHost): Promise<string> => `/proc/${pids.get(host.name) ?? (await containerPid(docker, host.name))}/root`;
  return {
    backend: 'docker',
    runId: req.runId,
    clientSubnet,
    serverSubnet,
    clientBridge: names.clientBridge,
    forwardHook: 'DOCKER-USER',
    // Docker's shape: the host NATs, in the host's table, shared with everything else on the host.
    natNetns: null,
    readNatStats: async () => (await readConntrackStatIn()).stat,
    clearNatEntries: async () => void (await deleteEntriesFromSubnet(clientSubnet)),
    clients,
    server,
    docker: { version: o.version },
    startAgent: (host, s) => execAgent(docker, host.name, s.label, s.agent, s.config),
    // The host's own tools (ip, ...) run in the container's network namespace through nsenter: the image has none.
    nsExec: async (host, cmd, args) => run('nsenter', ['-t', String(pids.get(host.name) ?? (await containerPid(docker, host.name))), '-n', cmd, ...args]),
    netnsPath: async (host) => `/proc/${pids.get(host.name) ?? (await containerPid(docker, host.name))}/ns/net`,
    rootDir,
    resolvers: dockerResolverFiles(docker),
    readCounters: async (host) => {
      const pid = pids.get(host.name) ?? (await containerPid(docker, host.name));
      const [snmp, netstat] = await Promise.all([readFile(`/proc/${pid}/net/snmp`, 'utf8'), readFile(`/proc/${pid}/net/netstat`, 'utf8')]);
      return parseNetCounters(snmp + netstat);
    },
    teardown,
  };
}

/**
 * Containers and networks of the harness's runs, for `repro cleanup`: labelled repro.run=<id> where the label's
 * value is a run id (6 hex digits), the name is repro-<that id>-<role>, and `owned(name, id)` agrees (the
 * run's state file lists it). Anyone can put a repro.run label on their own container: the label alone decides
 * nothing. With `dryRun`, listed, not removed.
 */
export async function removeDockerLeftovers(
  docker: Docker,
  owned: (name: string, runId: string) => boolean,
  dryRun = false,
): Promise<{ containers: string[]; networks: string[] }> {
  const filter = { label: [RUN_LABEL] };
  const ours = (name: string, labels: Record<string, string> | undefined): boolean => {
    const id = labels?.[RUN_LABEL] ?? '';
    const m = NETNS_PATTERN.exec(name);
    return /^[0-9a-f]{6}$/.test(id) && m?.[1] === id && owned(name, id);
  };
  const containers: string[] = [];
  for (const c of await docker.listContainers({ all: true, filters: filter })) {
    // A container has one name here (/name); a link's extra names have two slashes.
    const name = (c.Names.find((n) => n.lastIndexOf('/') === 0) ?? '').slice(1);
    if (!ours(name, c.Labels)) continue;
    if (!dryRun) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    containers.push(name);
  }
  const networks: string[] = [];
  for (const n of await docker.listNetworks({ filters: filter })) {
    if (!ours(n.Name, n.Labels)) continue;
    if (!dryRun) await docker.getNetwork(n.Id).remove().catch(() => undefined);
    networks.push(n.Name);
  }
  return { containers, networks };
}
