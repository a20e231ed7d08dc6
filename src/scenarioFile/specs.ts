import { SCENARIOS } from '../scenarios/registry.js';
import { flagDefaults } from '../scenarios/shared/definition.js';
import type { ScenarioName } from '../types.js';

/**
 * What `repro run` needs to know of each scenario command to check a scenario file before running anything:
 * its options (the command's long names and defaults, from the same flag table the CLI is built from) and its
 * own validation, which yields the mode names. The runs themselves go through the real command.
 */
export interface ScenarioSpec {
  defaults: Readonly<Record<string, string | number | boolean>>;
  /** Options without a default (the command works them out). */
  optional: readonly string[];
  /** The command's validation (throws its one-line UserError); returns the mode names the result will carry. */
  modeNames(args: Record<string, unknown>): string[];
}

function specOf(name: ScenarioName): ScenarioSpec {
  const s = SCENARIOS[name];
  const defaults = flagDefaults(s.flags);
  const optional = Object.keys(s.flags).filter((k) => !(k in defaults));
  // --image belongs to the docker backend's scenarios; a run entry may name one. The VM's size goes with kernel:.
  if (s.backends.includes('docker')) optional.push('image');
  optional.push('kernel-modules', 'vm-cpus', 'vm-memory');
  return { defaults, optional, modeNames: (a) => s.prepare(a).modeNames };
}

export const SCENARIO_SPECS: Record<ScenarioName, ScenarioSpec> = {
  'tcp-syn': specOf('tcp-syn'),
  dns: specOf('dns'),
  vxlan: specOf('vxlan'),
};

/** Options a run may not set in `options:` because the run entry or `repro run` sets them. */
export const RESERVED_OPTIONS = ['modes', 'backend', 'kernel', 'out', 'json', 'force'] as const;
