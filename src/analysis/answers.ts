import { metricExposure, rateOf } from './rates.js';
import { provokedBounds, raceCounter, resolvedClashes, RULE_OUT_BOUND } from './verdict.js';
import type { ModeAnswer, ModeResult, PhaseFigure, ResultFile, TcpSynLoad } from '../types.js';

/** How a reader names a MASQUERADE mode (the flag as written in the rule); other scenarios' modes by their name. */
const MODE_WORDS: Record<string, string> = {
  none: 'MASQUERADE without a flag',
  random: 'MASQUERADE --random',
  'random-fully': 'MASQUERADE --random-fully',
};

export function modeWords(mode: string): string {
  return MODE_WORDS[mode] ?? mode;
}

const n0 = (x: number): string => x.toLocaleString('en-US');
/** Rates per 100 000: whole above 100, three significant digits below (never "0" for a count above 0). */
function rate(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x) || x >= Number.MAX_VALUE) return '∞';
  return x >= 100 ? n0(Math.round(x)) : String(Number(x.toPrecision(3)));
}

/**
 * The phase an entry measured. Entries of files written before phases were recorded take their run's --load
 * (tcp-syn: steady unless it says burst); other scenarios have none.
 */
export function phaseOf(r: Pick<ResultFile, 'scenario' | 'config'>, m: Pick<ModeResult, 'load'>): TcpSynLoad | null {
  if (m.load) return m.load;
  if (r.scenario !== 'tcp-syn') return null;
  return r.config.load === 'burst' ? 'burst' : 'steady';
}

/** Does the result hold more than one phase (so entries of one mode need their phase to be told apart)? */
export function hasPhases(r: Pick<ResultFile, 'modes'>): boolean {
  return new Set(r.modes.map((m) => m.load ?? null)).size > 1;
}

/** "none", or "none (burst)" where a result holds both phases of a mode. */
export function entryLabel(r: Pick<ResultFile, 'modes'>, m: Pick<ModeResult, 'mode' | 'load'>): string {
  return hasPhases(r) && m.load ? `${m.mode} (${m.load})` : m.mode;
}

function figure(m: ModeResult, sentence: (f: Omit<PhaseFigure, 'sentence'>) => string): PhaseFigure {
  // Attempts that stalled on a race drop (each once), the unit the comparisons test: not lost SYNs.
  const { count: k, attempts: n } = metricExposure(m, 'race');
  const r = rateOf(k, n);
  const f: Omit<PhaseFigure, 'sentence'> = {
    verdict: m.verdict,
    k,
    n,
    per100k: r.per100k,
    interval: { lower: r.lower, upper: r.upper },
    // What the entry rules out (one-sided 95 %): for 0 in n the rule of three.
    ...(n > 0 && (k === 0 || m.verdict === 'not-vulnerable') ? { ruledOutAbove: Number(provokedBounds(k, n).upper.toPrecision(2)) } : {}),
  };
  return { ...f, sentence: sentence(f) };
}

/** "VULNERABLE — 18,620 race drops per 100 000 provoked connects (1,862 in 10,000, two-sided 95 % CI ...)" */
export function vulnerabilityFigure(m: ModeResult): PhaseFigure {
  return figure(m, (f) => {
    const ci = `two-sided 95 % CI ${rate(f.interval.lower)}–${rate(f.interval.upper)}`;
    if (m.verdict === 'vulnerable') return `VULNERABLE — ${rate(f.per100k)} race drops per 100 000 provoked connects (${n0(f.k)} in ${n0(f.n)}, ${ci})`;
    const seen = f.k === 0 ? 'no race drop' : `${n0(f.k)} race drop${f.k === 1 ? '' : 's'}`;
    if (m.verdict === 'not-vulnerable') return `not vulnerable — ${seen} in ${n0(f.n)} provoked connects (below ${rate(f.ruledOutAbove ?? Infinity)} per 100 000, ${RULE_OUT_BOUND})`;
    return `${m.verdict.toUpperCase()} when provoked — ${seen} in ${n0(f.n)} connects (see the burst entry's reason)`;
  });
}

/** "under a steady storm: not-reproduced — 0 in 30,000 connects (0 per 100 000, two-sided 95 % CI 0–12.3)" */
export function steadyFigure(m: ModeResult): PhaseFigure {
  return figure(m, (f) =>
    `under a steady storm: ${m.verdict} — ${n0(f.k)} in ${n0(f.n)} connects lost a SYN to the race (${rate(f.per100k)} per 100 000, two-sided 95 % CI ${rate(f.interval.lower)}–${rate(f.interval.upper)})`);
}

/** Pure: per mode (in the order first run), what its burst and steady entries answered. */
export function modeAnswers(r: Pick<ResultFile, 'scenario' | 'config' | 'modes'>): ModeAnswer[] {
  if (r.scenario !== 'tcp-syn') return [];
  const names = [...new Set(r.modes.map((m) => m.mode))];
  return names.map((mode) => {
    const burst = r.modes.find((m) => m.mode === mode && phaseOf(r, m) === 'burst');
    const steady = r.modes.find((m) => m.mode === mode && phaseOf(r, m) === 'steady');
    return { mode, ...(burst ? { vulnerable: vulnerabilityFigure(burst) } : {}), ...(steady ? { steady: steadyFigure(steady) } : {}) };
  });
}

/** "MASQUERADE without a flag: VULNERABLE — ...; under a steady storm: ..." */
export function answerLine(a: ModeAnswer): string {
  return `${modeWords(a.mode)}: ${[a.vulnerable?.sentence, a.steady?.sentence].filter((s) => s !== undefined).join('; ')}`;
}

/**
 * dns with both clients: per entry, how often the path raced and what became of it. Raced = resolved + dropped:
 * since 5.10 the kernel counts a clash it resolved in clashres and one that cost the packet in insert_failed.
 */
export function dnsEntryLine(m: ModeResult): string {
  const resolved = resolvedClashes(m.counters.conntrack);
  const dropped = raceCounter(m.counters.conntrack);
  const who = m.load === 'burst' ? 'burst client' : 'glibc';
  const raced = resolved === null ? `dropped ${n0(dropped.drops)} (${dropped.label}; resolved clashes not counted on this kernel)` :
    `raced ${n0(resolved + dropped.drops)} times: ${n0(resolved)} resolved by the kernel, ${n0(dropped.drops)} dropped (${dropped.label})`;
  return `${modeWords(m.mode)}, ${who}: ${raced}; ${n0(m.attribution.conntrackRace)} queries lost to it in ${n0(m.attempts)} ${m.load === 'burst' ? 'queries' : 'lookups'} (${m.verdict})`;
}
