import type { ModeResult, Verdict } from '../../src/types.js';

/**
 * The verdict a tcp-syn mode must get, from the kernel's counters and the run's size, written out apart from the
 * code under test: a listener that dropped SYNs, or more than 0.1 % of attempts failing for other reasons than a
 * timeout, makes it invalid; a race drop matched to a lost SYN is reproduced; else zero races rule out 5 per 100 000
 * (the default --detect-rate) only from -ln(0.05) / 5e-5 = 59 915 attempts on (one-sided 95 %).
 */
export function expectedTcpSynVerdict(m: ModeResult): Verdict {
  const listenerDrops = Math.max(m.counters.server['TcpExtListenOverflows'] ?? 0, m.counters.server['TcpExtListenDrops'] ?? 0);
  const otherFailures = m.failed - (m.failures['ETIMEDOUT'] ?? 0) - (m.failures['ABORTED'] ?? 0);
  if (listenerDrops > 0 || otherFailures > 0.001 * m.attempts) return 'invalid';
  if (m.attribution.conntrackRace > 0) return 'reproduced';
  return m.attempts >= 59_915 ? 'not-reproduced' : 'inconclusive';
}

/** A run's verdict from its modes': reproduced if any mode reproduced, else invalid if any was, else the rest's. */
export function expectedRunVerdict(modes: readonly Verdict[]): Verdict {
  for (const v of ['reproduced', 'race-resolved', 'invalid', 'inconclusive', 'not-reproduced'] as const) if (modes.includes(v)) return v;
  return 'invalid';
}
