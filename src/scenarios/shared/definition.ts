import type { Options } from 'yargs';
import type { ScenarioHooks } from '../../runner/hooks.js';
import type { BuildTopology } from '../../backends/choose.js';
import type { BackendName, ModeResult, ResultFile, ScenarioName } from '../../types.js';

/** A scenario's own flags, as yargs takes them: the CLI and the scenario-file checks read the same table. */
export type FlagTable = Readonly<Record<string, Options>>;

/** Where a validated run goes: the backend chosen for it and the caller's hooks. */
export interface RunContext {
  command: string;
  backend: BackendName;
  build: BuildTopology;
  hooks: ScenarioHooks;
}

/** What one scenario folder tells the rest of the program; `O` is its validated options. */
export interface ScenarioDefinition<O> {
  name: ScenarioName;
  describe: string;
  flags: FlagTable;
  /** Backends it runs on, the first the default of `auto` when no daemon answers. */
  backends: readonly BackendName[];
  /** The flags as yargs hands them over to the options the run uses; throws a one-line UserError. */
  validate(args: Record<string, unknown>): O;
  modeNames(opts: O): string[];
  /** What one attempt is called in progress lines (connects, lookups, queries). */
  progressNoun(opts: O): string;
  run(opts: O, ctx: RunContext): Promise<ResultFile>;
  /** The scenario's own rows of the modes table, below the common ones. */
  rows(modes: readonly ModeResult[]): string[][];
}

/** A validated run, ready to go: what the shared command tail needs, with the options type closed over. */
export interface PreparedRun {
  modeNames: string[];
  /** The validated options (the scenario's own type): what --dry-run describes. */
  options: unknown;
  progressNoun: string;
  run(ctx: RunContext): Promise<ResultFile>;
}

/** A registry entry: the definition without its options type. */
export interface ScenarioEntry {
  name: ScenarioName;
  describe: string;
  flags: FlagTable;
  backends: readonly BackendName[];
  rows(modes: readonly ModeResult[]): string[][];
  prepare(args: Record<string, unknown>): PreparedRun;
}

export function defineScenario<O>(d: ScenarioDefinition<O>): ScenarioEntry {
  return {
    name: d.name,
    describe: d.describe,
    flags: d.flags,
    backends: d.backends,
    rows: (modes) => d.rows(modes),
    prepare: (args) => {
      const opts = d.validate(args);
      return { modeNames: d.modeNames(opts), options: opts, progressNoun: d.progressNoun(opts), run: (ctx) => d.run(opts, ctx) };
    },
  };
}

/** The defaults of a flag table, by long name (flags without a default are left out). */
export function flagDefaults(flags: FlagTable): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, o] of Object.entries(flags)) {
    const v: unknown = o.default;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}
