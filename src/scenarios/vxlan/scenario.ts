import { defineScenario } from '../shared/definition.js';
import { VXLAN_FLAGS, validateVxlanArgs, type VxlanArgs } from './options.js';
import { runVxlan } from './run.js';
import { vxlanRows } from './rows.js';

export const vxlanScenario = defineScenario({
  name: 'vxlan',
  describe: 'double SNAT of VXLAN-encapsulated traffic: a host-network client to a pod on another node, legacy vs patched kube-proxy rules',
  flags: VXLAN_FLAGS,
  backends: ['netns'],
  validate: (args) => validateVxlanArgs(args as unknown as VxlanArgs),
  modeNames: (o) => o.modes.map((m) => m.name),
  progressNoun: () => 'connects',
  run: runVxlan,
  rows: vxlanRows,
});
