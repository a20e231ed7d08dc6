import { describe, expect, it } from 'vitest';
import { headroomProblem, HEADROOM_SHARE } from '../../src/scenarios/shared/headroom.js';

describe('headroomProblem', () => {
  const base = { max: 262_144, count: 0, where: "the router namespace's conntrack table", lowerWith: '--port-range' };
  it('lets a default tcp-syn run through: 4 clients x 200 ports is 800 entries at most', () => {
    expect(headroomProblem({ ...base, peakEntries: 4 * 200 })).toBeNull();
  });
  it('refuses a load that would fill more than half of the free table, naming the table and the option', () => {
    // --close fin with Linux's own range on 8 clients: 8 x 28 232 tuples in TIME_WAIT at once.
    const p = headroomProblem({ ...base, peakEntries: 8 * 28_232 });
    expect(p).toMatch(/225856 conntrack entries .* more than 50 % of the 262144 free in the router namespace's conntrack table .*--port-range/);
  });
  it('counts only what is free in a busy production table (docker: the host\'s)', () => {
    expect(headroomProblem({ ...base, count: 250_000, peakEntries: 7_000 })).not.toBeNull();
    expect(headroomProblem({ ...base, count: 250_000, peakEntries: 7_000 })).toMatch(/12144 free .*\(250000 of 262144 in use\)/);
    expect(headroomProblem({ ...base, count: 250_000, peakEntries: 12_144 * HEADROOM_SHARE })).toBeNull();
  });
});
