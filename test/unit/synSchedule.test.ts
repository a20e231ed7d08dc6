import { describe, expect, it } from 'vitest';
import {
  assumedExponentialSchedule,
  lostSynsByTimeout,
  synSchedule,
  synScheduleFromSysctls,
  tcpModelTimeoutMs,
} from '../../src/analysis/synSchedule.js';
import { countSignatures, bandsToRecord, lostSynsBeforeTimeout, signatureBands } from '../../src/analysis/signatures.js';
import { createHistogram, recordMicros } from '../../src/histogram.js';

/**
 * Expected values come from the kernel, not from this code:
 * - Documentation/networking/ip-sysctl.rst as changed by ccce324dabfe ("tcp: make the first N SYN RTO backoffs
 *   linear", 6.5): tcp_syn_retries 6 "corresponds to 67seconds (with tcp_syn_linear_timeouts = 4) till the last
 *   retransmission with the current initial RTO of 1second ... the final timeout ... after 131seconds"; before it,
 *   "63seconds till the last retransmission ... after 127seconds"; tcp_syn_linear_timeouts: "With an initial RTO of 1
 *   and tcp_syn_linear_timeouts = 4 we would expect SYN RTOs to be: 1, 1, 1, 1, 1, 2, 4, ...".
 * - net/ipv4/tcp_timer.c tcp_write_timeout(): max_retransmits = tcp_syn_retries + tcp_syn_linear_timeouts in SYN_SENT
 *   (6 + 4 = 10 retransmits, 11 SYNs on the wire, as a capture against a black hole shows).
 * - Measured here on 6.18 under 50 % SYN loss (DESIGN.md §1): connects completed at 1.0, 2.0, 3.1, 4.1, 5.1, 7.1 s.
 */
describe('the kernel SYN schedule', () => {
  it('6.5+ defaults: RTOs 1, 1, 1, 1, 1, 2, 4 ... s, last retransmit at 67 s, give-up at 131 s (ip-sysctl.rst)', () => {
    const s = synScheduleFromSysctls({ tcp_syn_linear_timeouts: '4\n', tcp_syn_retries: '6\n' });
    const gaps = s.completionMs.map((t, i) => t - (s.completionMs[i - 1] ?? 0));
    expect(gaps.slice(0, 7)).toEqual([1000, 1000, 1000, 1000, 1000, 2000, 4000]);
    expect(s.completionMs.at(-1)).toBe(67_000);
    expect(s.giveUpMs).toBe(131_000);
    // tcp_write_timeout(): 6 + 4 retransmits.
    expect(s.completionMs).toHaveLength(10);
    expect(s).toMatchObject({ linearTimeouts: 4, retries: 6, initialRtoMs: 1000, source: 'sysctl' });
  });

  it('before 6.5 (no tcp_syn_linear_timeouts file): last retransmit at 63 s, give-up at 127 s', () => {
    const s = synScheduleFromSysctls({ tcp_syn_retries: '6' });
    expect(s.linearTimeouts).toBe(0);
    expect(s.completionMs).toEqual([1000, 3000, 7000, 15_000, 31_000, 63_000]);
    expect(s.giveUpMs).toBe(127_000);
    expect(assumedExponentialSchedule()).toMatchObject({ completionMs: s.completionMs, source: 'assumed-exponential' });
  });

  it("ip-sysctl.rst's example: an initial RTO of 1 with 2 linear timeouts gives RTOs 1, 1, 1, 2, 4, 8, 16", () => {
    const s = synSchedule({ linearTimeouts: 2, retries: 6, source: 'sysctl' });
    const gaps = s.completionMs.map((t, i) => t - (s.completionMs[i - 1] ?? 0));
    expect(gaps.slice(0, 7)).toEqual([1000, 1000, 1000, 2000, 4000, 8000, 16_000]);
  });

  it('tcp_model_timeout() is ((2 << boundary) - 1) x base up to ilog2(TCP_RTO_MAX / base), then TCP_RTO_MAX per retry', () => {
    expect(tcpModelTimeoutMs(6, 1000)).toBe(127_000);
    expect(tcpModelTimeoutMs(2, 1000)).toBe(7000);
    // boundary 8 > thresh 6: 127 s + 2 x 120 s.
    expect(tcpModelTimeoutMs(8, 1000)).toBe(367_000);
  });

  it('gives up early where the time model expires before the retransmit count (retries 2, 4 linear timeouts)', () => {
    // Timer firings at 1, 2, 3, 4, 5, 7 s; at 7 s retransmits_timed_out(2) = 7 s has passed: no sixth retransmit.
    const s = synSchedule({ linearTimeouts: 4, retries: 2, source: 'sysctl' });
    expect(s.completionMs).toEqual([1000, 2000, 3000, 4000, 5000]);
    expect(s.giveUpMs).toBe(7000);
  });

  it('refuses a sysctl value that is not a count', () => {
    expect(() => synScheduleFromSysctls({ tcp_syn_linear_timeouts: 'x' })).toThrow(/tcp_syn_linear_timeouts/);
  });
});

describe('bands and timeouts on the 6.5+ schedule', () => {
  const linear = synScheduleFromSysctls({ tcp_syn_linear_timeouts: 4, tcp_syn_retries: 6 });
  const measured = [1000, 2000, 3100, 4100, 5100, 7100];

  it('bands are named by their completion time and hold every measured completion in the right band', () => {
    const bands = signatureBands(8000, linear);
    expect(bands.map((b) => b.name)).toEqual(['1s', '2s', '3s', '4s', '5s', '7s']);
    const h = createHistogram();
    for (const ms of measured) recordMicros(h, ms * 1000);
    const sig = countSignatures(h, 8000, linear);
    expect(bandsToRecord(sig.bands)).toEqual({ '1s': 1, '2s': 1, '3s': 1, '4s': 1, '5s': 1, '7s': 1 });
    expect(sig.slowOutsideBands).toBe(0);
    // A 3 s stall is three lost SYNs (SYNs at 0, 1 and 2 s lost, the one at 3 s answered).
    expect(bands.find((b) => b.name === '3s')?.lostSyns).toBe(3);
    h.destroy();
  });

  it('the exponential model leaves the measured 2, 4 and 5 s completions outside every band', () => {
    const h = createHistogram();
    for (const ms of measured) recordMicros(h, ms * 1000);
    const sig = countSignatures(h, 8000, assumedExponentialSchedule());
    expect(sig.slowOutsideBands).toBe(3);
    h.destroy();
  });

  it('a connect timeout counts the SYNs the schedule sent before it', () => {
    // 8 s: SYNs at 0, 1, 2, 3, 4, 5, 7 s all unanswered: 7 lost (exponential: 0, 1, 3, 7 s: 4).
    expect(lostSynsBeforeTimeout(8000, linear)).toBe(7);
    expect(lostSynsBeforeTimeout(8000)).toBe(4);
    expect(lostSynsByTimeout(linear, 2500)).toBe(3);
    // The kernel sends 11 SYNs in all, however long the harness waits.
    expect(lostSynsByTimeout(linear, 1_000_000)).toBe(11);
  });
});
