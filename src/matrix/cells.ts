/**
 * What `repro matrix` runs: one cell per kernel and scenario command, from the command line (--kernels and each
 * --scenario) or from a scenario file whose runs name their kernels (`kernel:`; none: the host's own).
 */
import { UserError } from '../errors.js';
import { SCENARIOS } from '../scenarios/registry.js';
import { cliArgsFor } from '../scenarioFile/evaluate.js';
import type { ScenarioRun } from '../scenarioFile/load.js';
import type { ScenarioName } from '../types.js';

export interface MatrixCell {
  /** The --kernel value, or null: the host's own kernel. */
  kernel: string | null;
  /** The kernel's column label and directory name: host, debian-bullseye, linux-image-...deb's name... */
  kernelLabel: string;
  scenario: ScenarioName;
  /** The scenario command as words, without --kernel and --out (e.g. tcp-syn --load burst). */
  words: string[];
  /** The scenario's row label and directory name (e.g. tcp-syn_load-burst). */
  scenarioLabel: string;
  /** From a scenario file: the run, whose thresholds are checked. */
  run?: ScenarioRun;
}

/** Options the matrix sets itself: the cell's kernel and directory. */
const MATRIX_OWNED = ['--kernel', '--out', '--json'];

/** Pure: a directory-safe label (letters, digits, '.', '_', '-'), at most 80 characters. */
export function label(text: string): string {
  const s = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return (s === '' ? 'x' : s).slice(0, 80);
}

/** Pure: a kernel's label: host, debian-bullseye, or the file's name. */
export function kernelLabel(kernel: string | null): string {
  if (kernel === null || kernel === 'host') return 'host';
  return label(kernel.startsWith('debian') ? kernel.replace(':', '-') : kernel.split('/').at(-1) ?? kernel);
}

/** Pure: words of a --scenario value, split on blanks; single or double quotes keep a value with blanks together. */
export function splitWords(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of text.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

/** Pure: the scenario command of a --scenario value, checked: a known scenario, no option the matrix owns. */
export function parseScenarioWords(text: string): { scenario: ScenarioName; words: string[] } {
  const words = splitWords(text);
  const name = words[0];
  if (name === undefined || !Object.hasOwn(SCENARIOS, name)) {
    throw new UserError(`--scenario "${text}": starts with no scenario (known: ${Object.keys(SCENARIOS).join(', ')})`);
  }
  for (const w of words.slice(1)) {
    const flag = w.includes('=') ? w.slice(0, w.indexOf('=')) : w;
    if (MATRIX_OWNED.includes(flag)) throw new UserError(`--scenario "${text}": ${flag} is the matrix's own (use --kernels, --out)`);
    if (flag === '--backend' || flag.startsWith('--backend=')) throw new UserError(`--scenario "${text}": the matrix runs every cell on the netns backend`);
  }
  return { scenario: name as ScenarioName, words: [...words, '--backend', 'netns'] };
}

/** Pure: --kernels as a list (host, a --kernel value, ...), each once. */
export function parseKernels(text: string): (string | null)[] {
  const items = text.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (items.length === 0) throw new UserError('--kernels names no kernel (e.g. host,debian:bullseye,debian:bookworm,debian:trixie)');
  const out = items.map((k) => (k === 'host' ? null : k));
  const labels = out.map(kernelLabel);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice !== undefined) throw new UserError(`--kernels names ${twice} twice`);
  return out;
}

/** Pure: the cells of --kernels x --scenario, kernel by kernel (a kernel's package is fetched once, its cells run in a row). */
export function cellsOf(kernels: readonly (string | null)[], scenarios: readonly string[]): MatrixCell[] {
  if (scenarios.length === 0) throw new UserError('give at least one --scenario (e.g. --scenario "tcp-syn --load burst")');
  const parsed = scenarios.map(parseScenarioWords);
  const slabels = parsed.map((p) => scenarioLabel(p.words));
  return kernels.flatMap((kernel) =>
    parsed.map((p, i) => ({ kernel, kernelLabel: kernelLabel(kernel), scenario: p.scenario, words: p.words, scenarioLabel: slabels[i] ?? p.scenario })),
  );
}

/** Pure: the cells of a scenario file's runs: each run's kernel (none: host), its name as the scenario's label. */
export function cellsOfFile(runs: readonly ScenarioRun[]): MatrixCell[] {
  return runs.map((run) => {
    const words = cliArgsFor({ ...run, kernel: null }, '').slice(0, -2);
    return { kernel: run.kernel, kernelLabel: kernelLabel(run.kernel), scenario: run.scenario, words, scenarioLabel: scenarioLabel(words), run };
  });
}

/** Pure: a scenario command's row label: its words without the backend, e.g. tcp-syn_load_burst. */
export function scenarioLabel(words: readonly string[]): string {
  const kept = words.filter((w, i) => w !== '--backend' && words[i - 1] !== '--backend');
  return label(kept.join('_').replace(/--/g, ''));
}
