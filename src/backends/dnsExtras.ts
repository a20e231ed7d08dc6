import { mkdir, readdir, rm, rmdir, writeFile, stat } from 'node:fs/promises';
import { hostAddress, parsePrefix } from '../host/subnets.js';
import type { TestHost, Topology } from './topology.js';

/**
 * What `repro dns` needs from a topology beyond the common contract: service backend addresses on the server
 * host, a route back to the clients (untracked answers are not un-NATed), and a resolver configuration per
 * client. One implementation per backend; this is the netns one.
 */
export interface DnsTopologyExtras {
  /** `count` backend addresses on the server host, the server's own address first. */
  addBackends(count: number): Promise<string[]>;
  /** An unused address of the harness's server subnet for the service VIP (the host DNATs it). */
  vipAddress(): string;
  routeServerToClients(): Promise<void>;
  /** Give a client its resolv.conf (and a DNS-only nsswitch.conf), seen by processes started after this. */
  writeResolver(host: TestHost, resolvConf: string, nsswitch: string): Promise<void>;
  /** Remove every resolver file written; safe to call twice. */
  removeResolvers(): Promise<void>;
}

/** `ip netns exec NS` bind-mounts every file of /etc/netns/NS over /etc: a per-namespace /etc/resolv.conf. */
export const NETNS_ETC = '/etc/netns';
/**
 * Left in /etc/netns by the run that had to create the directory: whichever run (or cleanup) later finds nothing
 * else there removes both, so a directory the host had before stays and one the harness made goes.
 */
export const CREATED_MARKER = '.repro-created';

async function removeEtcDirIfOnlyOurs(): Promise<void> {
  const left = await readdir(NETNS_ETC).catch(() => null);
  if (left === null || left.some((n) => n !== CREATED_MARKER)) return;
  await rm(`${NETNS_ETC}/${CREATED_MARKER}`, { force: true });
  await rmdir(NETNS_ETC).catch(() => undefined);
}

/** Host numbers in the server subnet: .1 the host, .2.. the backends, the VIP near the top. */
const FIRST_BACKEND_HOST = 2;
const VIP_HOST = 250;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** The steps every backend does the same way, through the topology's own namespace access. */
function commonDnsSteps(t: Topology): Pick<DnsTopologyExtras, 'addBackends' | 'vipAddress' | 'routeServerToClients'> {
  const serverPrefix = parsePrefix(t.serverSubnet);
  return {
    async addBackends(count) {
      const addrs = Array.from({ length: count }, (_, i) => hostAddress(serverPrefix, FIRST_BACKEND_HOST + i));
      for (const a of addrs) {
        if (a === t.server.address) continue;
        await t.nsExec(t.server, 'ip', ['addr', 'add', `${a}/${serverPrefix.length}`, 'dev', 'eth0']);
      }
      return addrs;
    },
    vipAddress: () => hostAddress(serverPrefix, VIP_HOST),
    async routeServerToClients() {
      await t.nsExec(t.server, 'ip', ['route', 'replace', t.clientSubnet, 'via', hostAddress(serverPrefix, 1)]);
    },
  };
}

/**
 * The docker backend: the resolver files are the container's own /etc/resolv.conf (a file Docker bind-mounts
 * per container) and /etc/nsswitch.conf, written through /proc/<pid>/root; they go with the containers.
 */
export function dockerDnsExtras(t: Topology): DnsTopologyExtras {
  return {
    ...commonDnsSteps(t),
    async writeResolver(host, resolvConf, nsswitch) {
      const root = await t.rootDir(host);
      await writeFile(`${root}/etc/resolv.conf`, resolvConf);
      await writeFile(`${root}/etc/nsswitch.conf`, nsswitch);
    },
    async removeResolvers() {
      // Nothing outside the containers was written.
    },
  };
}

/** The extras for whichever backend built the topology. */
export function dnsExtrasFor(t: Topology): DnsTopologyExtras {
  return t.backend === 'docker' ? dockerDnsExtras(t) : netnsDnsExtras(t);
}

export function netnsDnsExtras(t: Topology): DnsTopologyExtras {
  const written = new Set<string>();
  return {
    ...commonDnsSteps(t),
    async writeResolver(host, resolvConf, nsswitch) {
      if (!(await exists(NETNS_ETC))) {
        await mkdir(NETNS_ETC, { recursive: true });
        await writeFile(`${NETNS_ETC}/${CREATED_MARKER}`, 'created by repro; removed with the last resolver files of its runs\n');
      }
      const dir = `${NETNS_ETC}/${host.name}`;
      written.add(dir);
      await mkdir(dir, { recursive: true });
      await writeFile(`${dir}/resolv.conf`, resolvConf);
      await writeFile(`${dir}/nsswitch.conf`, nsswitch);
    },
    async removeResolvers() {
      for (const dir of written) await rm(dir, { recursive: true, force: true });
      written.clear();
      await removeEtcDirIfOnlyOurs();
    },
  };
}

/** For `repro cleanup`: remove the /etc/netns/<namespace> directories a killed run left, by name; returns them. */
export async function removeResolverDirs(owned: (netnsName: string) => boolean): Promise<string[]> {
  const names = await readdir(NETNS_ETC).catch(() => [] as string[]);
  const mine = names.filter(owned);
  for (const n of mine) await rm(`${NETNS_ETC}/${n}`, { recursive: true, force: true });
  await removeEtcDirIfOnlyOurs();
  return mine;
}
