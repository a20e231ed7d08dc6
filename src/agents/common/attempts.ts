import { createHistogram, encodeHistogram, recordMicros } from '../../histogram.js';

/** What one worker's attempts came to: the latencies of successes, of failures apart, and failures by code. */
export interface AttemptRecord {
  /** A success after `ms`. */
  ok(ms: number): void;
  /** A failure with `code` after `ms` (failures are timed too: timeouts and losses are the signal). */
  fail(code: string, ms: number): void;
  /** `count` failures with `code` that were given up without a time of their own (a stop cutting lookups short). */
  failUntimed(code: string, count: number): void;
  /** The record as the worker's 'done' message carries it. */
  encoded(): { histogram: string; failureHistogram: string; failures: Record<string, number> };
}

export function attemptRecord(): AttemptRecord {
  const hist = createHistogram();
  const failHist = createHistogram();
  const failures: Record<string, number> = {};
  return {
    ok: (ms) => recordMicros(hist, ms * 1000),
    fail(code, ms) {
      failures[code] = (failures[code] ?? 0) + 1;
      recordMicros(failHist, ms * 1000);
    },
    failUntimed(code, count) {
      failures[code] = (failures[code] ?? 0) + count;
    },
    encoded: () => ({ histogram: encodeHistogram(hist), failureHistogram: encodeHistogram(failHist), failures }),
  };
}
