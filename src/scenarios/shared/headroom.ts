import { readFile } from 'node:fs/promises';
import { UserError } from '../../errors.js';
import type { BackendName } from '../../types.js';

/** The share of the free conntrack table a run may plan to fill at its peak. */
export const HEADROOM_SHARE = 0.5;

export interface HeadroomInput {
  /** Entries the load can hold at once, at most. */
  peakEntries: number;
  /** The table's limit and how full it is now, in the namespace that will hold the entries. */
  max: number;
  count: number;
  /** Which table that is, in words, and the option that lowers the estimate. */
  where: string;
  lowerWith: string;
}

/** Pure: why the run would crowd the table (a one-line refusal), or null when it fits. */
export function headroomProblem(h: HeadroomInput): string | null {
  const free = Math.max(0, h.max - h.count);
  if (h.peakEntries <= HEADROOM_SHARE * free) return null;
  return (
    `the load can hold up to ${h.peakEntries} conntrack entries at once, more than ${HEADROOM_SHARE * 100} % of the ${free} free in ${h.where} ` +
    `(${h.count} of ${h.max} in use): lower it with ${h.lowerWith}`
  );
}

/**
 * Refuse (exit 2) a run whose peak entries would crowd the conntrack table that holds them: the host's own
 * production table on docker, the router namespace's on netns (a new namespace starts empty; its limit is the
 * kernel-wide nf_conntrack_max).
 */
export async function requireConntrackHeadroom(backend: BackendName, peakEntries: number, lowerWith: string): Promise<void> {
  const read = async (key: string): Promise<number> => Number((await readFile(`/proc/sys/net/netfilter/${key}`, 'utf8')).trim());
  const max = await read('nf_conntrack_max').catch(() => NaN);
  // No conntrack module loaded yet: the first rule loads it with its default size; nothing to check against.
  if (!Number.isFinite(max) || max <= 0) return;
  const count = backend === 'docker' ? await read('nf_conntrack_count').catch(() => 0) : 0;
  const where = backend === 'docker' ? "the host's conntrack table (the NAT is the host's: this is the production table)" : "the router namespace's conntrack table";
  const problem = headroomProblem({ peakEntries, max, count, where, lowerWith });
  if (problem) throw new UserError(problem);
}
