import { defineScenario } from '../shared/definition.js';
import { DNS_FLAGS, validateDnsArgs, type DnsArgs } from './options.js';
import { runDns } from './run.js';
import { dnsRows } from './rows.js';

export const dnsScenario = defineScenario({
  name: 'dns',
  describe: 'the UDP A/AAAA conntrack race of DNS lookups (5 s stalls), through a service VIP, compared across MASQUERADE modes and resolver mitigations',
  flags: DNS_FLAGS,
  backends: ['netns', 'docker'],
  validate: (args) => validateDnsArgs(args as unknown as DnsArgs),
  modeNames: (o) => o.modes.map(String),
  progressNoun: (o) => (o.client === 'burst' ? 'queries' : 'lookups'),
  run: runDns,
  rows: dnsRows,
});
