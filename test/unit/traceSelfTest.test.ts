import { describe, expect, it } from 'vitest';
import { checkSelfTest, hookRunAgrees, hookRunLine, SELF_TEST_SCHEMA, type HookRun } from '../../src/node/trace/selfTest.js';

const run = (over: Partial<HookRun> = {}): HookRun => ({
  hook: 'kretprobe', hookName: 'x', insertFailed: 12, records: 12, insertRaces: 12, attempts: 2000, stalls: 12,
  clients: ['netns:repro-a-c1', 'netns:repro-a-c2'], partners: ['netns:repro-a-c1', 'netns:repro-a-c2'], labClients: ['netns:repro-a-c1', 'netns:repro-a-c2'], ...over,
});

describe('trace --self-test: judging a hook run', () => {
  it('agrees only when the insert-race records equal a non-zero insert_failed and name both lab clients, no one else', () => {
    expect(hookRunAgrees(run())).toBe(true);
    expect(hookRunAgrees(run({ insertRaces: 11 }))).toBe(false);
    expect(hookRunAgrees(run({ insertFailed: 0, insertRaces: 0 }))).toBe(false);
    expect(hookRunAgrees(run({ partners: [] }))).toBe(false);
    expect(hookRunAgrees(run({ clients: ['netns:repro-a-c1'], partners: ['netns:repro-a-c1'] }))).toBe(false);
    expect(hookRunAgrees(run({ clients: ['netns:repro-a-c1', 'host'] }))).toBe(false);
    expect(hookRunAgrees(run({ error: 'bpftrace ended' }))).toBe(false);
    expect(hookRunLine(run({ insertRaces: 11 }))).toMatch(/^kretprobe: 11 insert-race records \(12 drops\) for insert_failed \+12; race tool: 12 of 2000 connects lost a SYN; .* DIFFERS$/);
  });
});

describe("trace --kernel: the guest's self-test result is hostile input", () => {
  const good = { schema: SELF_TEST_SCHEMA, kernel: '6.1.0-57-amd64', refused: ['fexit: no'], runs: [run()] };
  it('keeps the known fields of a well-formed result (hook names from the host, not the guest)', () => {
    const r = checkSelfTest(JSON.stringify({ ...good, extra: 1, runs: [{ ...run(), hookName: 'planted', more: 'x' }] }));
    expect(r).toEqual({ ...good, runs: [{ ...run(), hookName: 'kretprobe:__nf_conntrack_confirm returning NF_DROP' }] });
  });
  it('refuses anything else', () => {
    expect(checkSelfTest('nope')).toBe('not JSON');
    expect(checkSelfTest(JSON.stringify({ ...good, schema: 'repro/result@1' }))).toMatch(/^not a /);
    expect(checkSelfTest(JSON.stringify({ ...good, runs: [run({ hook: 'kprobe' as HookRun['hook'] })] }))).toBe('a run names no known hook');
    expect(checkSelfTest(JSON.stringify({ ...good, runs: [run({ insertRaces: -1 })] }))).toBe('the kretprobe run is malformed');
    expect(checkSelfTest(JSON.stringify({ ...good, runs: [run({ clients: ['x'.repeat(301)] })] }))).toBe('the kretprobe run is malformed');
    expect(checkSelfTest(JSON.stringify({ ...good, runs: Array(5).fill(run()) }))).toBe('kernel, refused or runs malformed');
  });
});
