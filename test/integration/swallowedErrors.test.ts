import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import type { ResultFile } from '../../src/types.js';

const gate = capabilityGate();
/** A namespace name of the harness's shape that no run has: every command inside it fails. */
const NO_SUCH_NETNS = 'repro-000000-none';

describe.skipIf(gate.skip)(`errors that used to be swallowed${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('a failed conntrack -L is an error, never "no outer VXLAN flow"', async () => {
    const { readConntrackFlows } = (await import('../../dist/host/conntrackFlows.js')) as typeof import('../../src/host/conntrackFlows.js');
    await expect(readConntrackFlows(NO_SUCH_NETNS, ['-p', 'udp'])).rejects.toThrow(/conntrack -L in repro-000000-none failed/);
  });

  it('a failed conntrack -F between modes is an error the mode loop turns into a note, never silence', async () => {
    const { flushNetnsTable } = (await import('../../dist/host/conntrackTable.js')) as typeof import('../../src/host/conntrackTable.js');
    await expect(flushNetnsTable(NO_SUCH_NETNS)).rejects.toThrow(/conntrack -F in repro-000000-none failed/);
  });

  it('a teardown that fails is in the result (teardownErrors) with what to run, and the rest is still undone', async () => {
    const before = hostSnapshot();
    const { withRun } = (await import('../../dist/scenarios/shared/runScope.js')) as typeof import('../../src/scenarios/shared/runScope.js');
    let second = false;
    const r = await withRun('swallowed errors test', {}, async (scope) => {
      scope.onTeardown(async () => {
        second = true;
      });
      scope.onTeardown(async () => {
        throw new Error('ip netns del repro-x-c0: Device or resource busy');
      });
      return { modes: [], verdict: 'inconclusive' } as unknown as ResultFile;
    });
    expect(second).toBe(true);
    expect(r.teardownErrors?.[0]).toBe('ip netns del repro-x-c0: Device or resource busy');
    expect(r.teardownErrors?.[1]).toMatch(/^run `repro cleanup --run [0-9a-f]{6}` to remove what is left$/);
    expect(hostSnapshot()).toEqual(before);
  });
});
