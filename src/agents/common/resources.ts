/**
 * What an agent process cost: CPU time (user + system, all its threads) and peak resident memory, from
 * getrusage(RUSAGE_SELF). Agents report it in their final event so a run (and `npm run bench`) can say what
 * the load and the servers used, not only how fast they were.
 */
export interface AgentResources {
  /** User + system CPU of the process since it started, milliseconds. */
  cpuMs: number;
  /** Peak resident set size of the process, KiB (ru_maxrss). */
  peakRssKb: number;
}

export function ownResources(): AgentResources {
  const u = process.resourceUsage();
  return { cpuMs: Math.round((u.userCPUTime + u.systemCPUTime) / 1000), peakRssKb: u.maxRSS };
}

/** Several processes of one agent (a cluster's primary and workers): CPU adds up, and so does memory held at once
 * (an upper bound of the agent's peak: the processes' peaks need not coincide). */
export function sumResources(parts: readonly AgentResources[]): AgentResources {
  return parts.reduce((a, p) => ({ cpuMs: a.cpuMs + p.cpuMs, peakRssKb: a.peakRssKb + p.peakRssKb }), { cpuMs: 0, peakRssKb: 0 });
}
