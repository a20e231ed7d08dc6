import { compareModes } from './comparisons.js';
import { modeRates } from './rates.js';
import type { Comparison, ModeResult, ResultFile } from '../types.js';

/** The race rate a "no difference" or "not-reproduced" must rule out when a result's config does not say. */
export const DEFAULT_DETECT_RATE_PER_100K = 5;

export function detectRateOf(r: ResultFile): number {
  const v = r.scenario === 'tcp-syn' ? r.config.detectRatePer100k : r.config['detectRatePer100k'];
  return typeof v === 'number' && v > 0 ? v : DEFAULT_DETECT_RATE_PER_100K;
}

/** What settles a comparison of two zero counts in each scenario: a load that provokes the race. */
export function settleHintFor(scenario: ResultFile['scenario']): string {
  if (scenario === 'dns') return '`--client burst` (lockstep queries that provoke the clash)';
  if (scenario === 'tcp-syn') return '`--load burst` (connects that provoke the race)';
  return 'a load that provokes the race';
}

/**
 * Pure: the result with per-mode rates and the between-mode comparisons filled in (recomputed from the counts
 * the file already holds, so old result files get them too when re-rendered).
 */
export function withStatistics(r: ResultFile): ResultFile {
  const modes = r.modes.map((m) => ({ ...m, rates: modeRates(m) }));
  return { ...r, modes, comparisons: phaseComparisons(modes, settleHintFor(r.scenario)) };
}

/**
 * Modes are compared within a phase only (a burst entry's provoked rate against a steady one's means nothing): each
 * phase's later modes against its first, burst first; each comparison names its phase and its reason says so.
 */
export function phaseComparisons(modes: readonly ModeResult[], settleHint: string): Comparison[] {
  const phases = [...new Set(modes.map((m) => m.load ?? null))];
  if (phases.length <= 1) {
    const load = phases[0] ?? null;
    return compareModes(modes, { settleHint }).map((c) => (load ? { ...c, load } : c));
  }
  return phases.flatMap((load) =>
    compareModes(modes.filter((m) => (m.load ?? null) === load), { settleHint })
      .map((c) => (load ? { ...c, load, reason: `${load} phase: ${c.reason}` } : c)));
}
