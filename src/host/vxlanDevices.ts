import { errorMessage } from '../errors.js';
import { runInNamespace, type NetnsRef } from './exec.js';

/** A VXLAN device of a namespace and what decides whether a double SNAT of its outer packets gets dropped. */
export interface VxlanDevice {
  name: string;
  /** UDP port of the outer packets (flannel 8472, the IANA port 4789). */
  port: number | null;
  /** Whether the device puts a UDP checksum in the outer header (flannel: no, checksum 0). */
  udpCsum: boolean | null;
  /** `ethtool -k`: tx-checksumming on means the NIC (or its emulation) completes checksums the NAT left wrong. */
  txChecksumming: 'on' | 'off' | null;
  /** Why ethtool could not tell, when it could not. */
  ethtoolError: string | null;
}

interface IpLink {
  ifname?: unknown;
  linkinfo?: { info_kind?: unknown; info_data?: { port?: unknown; udp_csum?: unknown } };
}

/** `ip -d -j link show type vxlan`: the devices, without the ethtool part. */
export function parseVxlanLinks(json: string): Omit<VxlanDevice, 'txChecksumming' | 'ethtoolError'>[] {
  const text = json.trim();
  if (text === '') return [];
  const links = JSON.parse(text) as unknown;
  if (!Array.isArray(links)) throw new Error('ip -j link: not a list');
  return (links as IpLink[])
    .filter((l) => l.linkinfo?.info_kind === 'vxlan' && typeof l.ifname === 'string')
    .map((l) => {
      const data = l.linkinfo?.info_data;
      return {
        name: l.ifname as string,
        port: typeof data?.port === 'number' ? data.port : null,
        udpCsum: typeof data?.udp_csum === 'boolean' ? data.udp_csum : null,
      };
    });
}

/** `ethtool -k DEV`: the state of tx-checksumming ("on", "off", with or without "[fixed]"). */
export function parseTxChecksumming(text: string): 'on' | 'off' {
  const m = /^tx-checksumming:\s+(on|off)\b/m.exec(text);
  if (!m) throw new Error('ethtool -k: no tx-checksumming line');
  return m[1] as 'on' | 'off';
}

export interface VxlanRead {
  devices: VxlanDevice[];
  /** Why the devices could not be listed at all. */
  error: string | null;
}

export async function readVxlanDevices(ns: NetnsRef): Promise<VxlanRead> {
  let links: ReturnType<typeof parseVxlanLinks>;
  try {
    links = parseVxlanLinks((await runInNamespace(ns, 'ip', ['-d', '-j', 'link', 'show', 'type', 'vxlan'], { timeoutMs: 5000 })).stdout);
  } catch (err) {
    return { devices: [], error: errorMessage(err) };
  }
  const devices = await Promise.all(
    links.map(async (l): Promise<VxlanDevice> => {
      try {
        const r = await runInNamespace(ns, 'ethtool', ['-k', l.name], { timeoutMs: 5000 });
        return { ...l, txChecksumming: parseTxChecksumming(r.stdout), ethtoolError: null };
      } catch (err) {
        return { ...l, txChecksumming: null, ethtoolError: errorMessage(err) };
      }
    }),
  );
  return { devices, error: null };
}
