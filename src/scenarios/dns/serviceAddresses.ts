import { hostAddress, parsePrefix } from '../../host/subnets.js';
import type { Topology } from '../../backends/topology.js';

/** Host numbers in the server subnet: .1 the host, .2.. the backends, the VIP near the top. */
const FIRST_BACKEND_HOST = 2;
const VIP_HOST = 250;

/**
 * The DNS service's addresses on any backend, through the topology's own namespace access: backend addresses on
 * the server host, a VIP the host DNATs, and a route back to the clients (untracked answers are not un-NATed).
 */
export interface DnsServiceAddresses {
  /** `count` backend addresses on the server host, the server's own address first. */
  addBackends(count: number): Promise<string[]>;
  /** An unused address of the harness's server subnet for the service VIP. */
  vipAddress(): string;
  routeServerToClients(): Promise<void>;
}

export function dnsServiceAddresses(t: Topology): DnsServiceAddresses {
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
