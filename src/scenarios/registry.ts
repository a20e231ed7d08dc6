import type { ScenarioName } from '../types.js';
import type { ScenarioEntry } from './shared/definition.js';
import { tcpSynScenario } from './tcpSyn/scenario.js';
import { dnsScenario } from './dns/scenario.js';
import { vxlanScenario } from './vxlan/scenario.js';

/** Every scenario, by its command name: a new scenario is one folder and one line here. */
export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioEntry>> = {
  'tcp-syn': tcpSynScenario,
  dns: dnsScenario,
  vxlan: vxlanScenario,
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];
