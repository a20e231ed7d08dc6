import { TCP_SYN_DEFAULTS, validateTcpSynArgs, type TcpSynArgs } from '../scenarios/tcpSyn/options.js';
import { DNS_DEFAULTS, validateDnsArgs, type DnsArgs } from '../scenarios/dns/options.js';
import { VXLAN_DEFAULTS, validateVxlanArgs, type VxlanArgs } from '../scenarios/vxlan/options.js';
import type { ScenarioName } from '../types.js';

/**
 * What `repro run` needs to know of each scenario command to check a scenario file before running anything:
 * its options (the command's long names and defaults) and its own validation, which yields the mode names.
 * The runs themselves go through the real command (`repro <scenario> ...`).
 */
export interface ScenarioSpec {
  defaults: Readonly<Record<string, string | number | boolean>>;
  /** Options without a default (the command works them out). */
  optional: readonly string[];
  /** The command's validation (throws its one-line UserError); returns the mode names the result will carry. */
  modeNames(args: Record<string, unknown>): string[];
}

export const SCENARIO_SPECS: Record<ScenarioName, ScenarioSpec> = {
  'tcp-syn': {
    defaults: TCP_SYN_DEFAULTS,
    optional: ['port-range', 'image'],
    modeNames: (a) => validateTcpSynArgs(a as unknown as TcpSynArgs).modes,
  },
  dns: {
    defaults: DNS_DEFAULTS,
    optional: ['modes'],
    modeNames: (a) => validateDnsArgs(a as unknown as DnsArgs).modes.map(String),
  },
  vxlan: {
    defaults: VXLAN_DEFAULTS,
    optional: [],
    modeNames: (a) => validateVxlanArgs(a as unknown as VxlanArgs).modes.map((m) => m.name),
  },
};

/** Options a run may not set in `options:` because the run entry or `repro run` sets them. */
export const RESERVED_OPTIONS = ['modes', 'backend', 'out', 'json'] as const;
