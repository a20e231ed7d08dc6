import { defineScenario } from '../shared/definition.js';
import { TCP_SYN_FLAGS, validateTcpSynArgs, type TcpSynArgs } from './options.js';
import { runTcpSyn } from './run.js';

export const tcpSynScenario = defineScenario({
  name: 'tcp-syn',
  describe: 'the TCP SYN drop of the SNAT port-allocation race, compared across MASQUERADE modes',
  flags: TCP_SYN_FLAGS,
  backends: ['netns', 'docker'],
  validate: (args) => validateTcpSynArgs(args as unknown as TcpSynArgs),
  modeNames: (o) => o.modes,
  progressNoun: () => 'attempts',
  run: runTcpSyn,
  rows: () => [],
});
