import { UserError } from '../../errors.js';
import type { FlagTable } from '../shared/definition.js';
import { MASQUERADE_MODES, type MasqueradeMode } from '../../types.js';
import { POSTROUTING_VARIANTS, type PostroutingVariant } from './kubeProxyRules.js';
import { parseWholeNumber } from '../shared/numberOption.js';
import { durationOption } from '../shared/durationOption.js';

/**
 * `repro vxlan` options. A mode is `<rules>[+<flag>][+offload-off]`:
 *   rules        legacy | patched            (KUBE-POSTROUTING before / after kubernetes#92035)
 *   flag         random-fully (default) | random | none   (the MASQUERADE flag; kube-proxy >= 1.16 uses random-fully)
 *   offload-off  `ethtool -K flannel.1 tx off` on both nodes (the published mitigation)
 */
export interface VxlanMode {
  /** Canonical name: the default flag is left out, e.g. `legacy`, `legacy+none`, `patched+offload-off`. */
  name: string;
  rules: PostroutingVariant;
  flag: MasqueradeMode;
  offloadOff: boolean;
}

export interface VxlanArgs {
  modes: string;
  connections: number;
  workers: number;
  concurrency: number;
  /** Seconds, or a duration as written (20s, 1m). */
  duration: number | string;
  /** Milliseconds, or a duration as written (70s). */
  'connect-timeout': number | string;
  'server-workers': number;
  port: number;
  'service-port': number;
  'vxlan-port': number;
}

export interface VxlanOptions {
  modes: VxlanMode[];
  connections: number;
  workers: number;
  concurrency: number;
  durationSec: number;
  connectTimeoutMs: number;
  serverWorkers: number;
  serverPort: number;
  servicePort: number;
  vxlanPort: number;
}

export const VXLAN_DEFAULTS = {
  modes: 'legacy,patched',
  connections: 4000,
  workers: 2,
  concurrency: 8,
  duration: 20,
  // Above 63 s, so a connect that lost six SYNs (1+2+4+8+16+32 s) still lands in its band.
  'connect-timeout': 70_000,
  'server-workers': 2,
  port: 8080,
  'service-port': 80,
  'vxlan-port': 8472,
} as const;

const d = VXLAN_DEFAULTS;
export const VXLAN_FLAGS: FlagTable = {
  modes: { type: 'string', default: d.modes, describe: 'comma-separated modes <legacy|patched>[+none|+random|+random-fully][+offload-off]: KUBE-POSTROUTING before/after kubernetes#92035, the MASQUERADE flag (default random-fully), tx checksum offload off on the vxlan devices' },
  connections: { type: 'number', default: d.connections, describe: 'connects per mode from node A (host network) to the service backed by pod B' },
  workers: { type: 'number', default: d.workers, describe: 'worker threads of the client (1-32)' },
  concurrency: { type: 'number', default: d.concurrency, describe: 'connects in flight per worker (1-1024)' },
  duration: { type: 'string', default: d.duration, describe: 'per mode at most (20s, 1m; a bare number is seconds); a mode stops at --connections or --duration, whichever comes first' },
  'connect-timeout': { type: 'string', default: d['connect-timeout'], describe: 'time (70s; a bare number is ms) before a connect is given up as ETIMEDOUT (70000 keeps the 1 s ... 63 s SYN-retransmit signatures)' },
  'server-workers': { type: 'number', default: d['server-workers'], describe: "processes accepting on pod B's listener" },
  port: { type: 'number', default: d.port, describe: "pod B's TCP port (the service's endpoint)" },
  'service-port': { type: 'number', default: d['service-port'], describe: "the service's port on its ClusterIP" },
  'vxlan-port': { type: 'number', default: d['vxlan-port'], describe: "the vxlan devices' UDP port (flannel: 8472)" },
};

const DEFAULT_FLAG: MasqueradeMode = 'random-fully';
const OFFLOAD_OFF = 'offload-off';

export function modeName(m: Omit<VxlanMode, 'name'>): string {
  return [m.rules, ...(m.flag === DEFAULT_FLAG ? [] : [m.flag]), ...(m.offloadOff ? [OFFLOAD_OFF] : [])].join('+');
}

export function parseVxlanMode(text: string): VxlanMode {
  const [rules, ...mods] = text.split('+').map((s) => s.trim());
  const expected = `<${POSTROUTING_VARIANTS.join('|')}>[+${MASQUERADE_MODES.join('|')}][+${OFFLOAD_OFF}]`;
  if (!rules || !(POSTROUTING_VARIANTS as readonly string[]).includes(rules)) {
    throw new UserError(`--modes: unknown mode "${text}" (expected ${expected}, e.g. legacy, patched, legacy+offload-off)`);
  }
  let flag: MasqueradeMode | null = null;
  let offloadOff = false;
  for (const m of mods) {
    if ((MASQUERADE_MODES as readonly string[]).includes(m) && flag === null) flag = m as MasqueradeMode;
    else if (m === OFFLOAD_OFF && !offloadOff) offloadOff = true;
    else throw new UserError(`--modes: "${text}" has an unknown or repeated part "${m}" (expected ${expected})`);
  }
  const mode = { rules: rules as PostroutingVariant, flag: flag ?? DEFAULT_FLAG, offloadOff };
  return { name: modeName(mode), ...mode };
}

export function parseVxlanModes(text: string): VxlanMode[] {
  const parts = String(text).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UserError('--modes needs at least one mode, e.g. legacy,patched');
  const out: VxlanMode[] = [];
  for (const p of parts) {
    const m = parseVxlanMode(p);
    if (out.some((o) => o.name === m.name)) throw new UserError(`--modes: "${p}" is listed twice (as ${m.name})`);
    out.push(m);
  }
  return out;
}

export function validateVxlanArgs(a: VxlanArgs): VxlanOptions {
  const opts: VxlanOptions = {
    modes: parseVxlanModes(a.modes),
    connections: parseWholeNumber('connections', a.connections, 1, 10_000_000),
    workers: parseWholeNumber('workers', a.workers, 1, 32),
    concurrency: parseWholeNumber('concurrency', a.concurrency, 1, 1024),
    durationSec: durationOption('duration', a.duration, 's', 1, 3600),
    connectTimeoutMs: durationOption('connect-timeout', a['connect-timeout'], 'ms', 100, 300_000),
    serverWorkers: parseWholeNumber('server-workers', a['server-workers'], 1, 64),
    serverPort: parseWholeNumber('port', a.port, 1, 65535),
    servicePort: parseWholeNumber('service-port', a['service-port'], 1, 65535),
    vxlanPort: parseWholeNumber('vxlan-port', a['vxlan-port'], 1, 65535),
  };
  if (opts.workers * opts.concurrency > 20_000) {
    throw new UserError(`--workers x --concurrency (${opts.workers * opts.concurrency}) exceeds 20000 connects in flight: node A has about 28 000 local ports`);
  }
  return opts;
}
