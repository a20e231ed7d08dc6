import { encodeHistogram, mergeEncoded } from '../../histogram.js';
import { latencySummary } from '../../analysis/loadFigures.js';
import { detectableRatePer100k } from '../../analysis/verdict.js';
import type { HttpFigures } from '../../agents/tcp/loadWorker.js';
import type { HttpModeFigures } from '../../types.js';

export interface HttpOutcome {
  /** Requests (attempts), over all clients. */
  attempts: number;
  /** One entry per client that ran HTTP workers. */
  clients: readonly HttpFigures[];
  keepalive: boolean;
  /** Successful connects in the merged connect histogram (the analysis' own count, to check the clients'). */
  connectsRecorded: number;
}

/**
 * Pure: the clients' HTTP figures merged into the mode's `http` block, with notes for the reader:
 * how many requests opened a connection (keep-alive makes most open none) and any disagreement between
 * the connects the workers counted and the connect latencies they recorded.
 */
export function httpModeFigures(o: HttpOutcome): { figures: HttpModeFigures; notes: string[] } {
  const h = mergeEncoded(o.clients.map((c) => c.requestHistogram));
  try {
    const connects = { attempted: 0, succeeded: 0, failed: 0 };
    for (const c of o.clients) {
      connects.attempted += c.connects.attempted;
      connects.succeeded += c.connects.succeeded;
      connects.failed += c.connects.failed;
    }
    const notes: string[] = [];
    if (o.keepalive) {
      notes.push(
        `keep-alive: ${o.attempts} requests opened only ${connects.attempted} TCP connects (${connects.failed} failed); ` +
          `connect latency, signatures and lost SYNs are about those connects, request latency about every request`,
      );
      // The verdict's rate is per request (what the application sees); per connect, so few rule out far less.
      if (connects.attempted > 0 && connects.attempted < o.attempts) {
        notes.push(
          `the verdict's detectable rate is per request; per connect, ${connects.attempted} connects without a race drop ` +
            `rule out only a rate of ${Math.round(detectableRatePer100k(connects.attempted))} per 100 000 or more (95 %)`,
        );
      }
    } else if (connects.attempted !== o.attempts) {
      notes.push(`${o.attempts} requests opened ${connects.attempted} TCP connects, not one each (requests stopped before their connect, or undici reconnected)`);
    }
    if (connects.succeeded !== o.connectsRecorded) {
      notes.push(`the workers counted ${connects.succeeded} successful connects but recorded ${o.connectsRecorded} connect latencies`);
    }
    return {
      figures: {
        keepalive: o.keepalive,
        requestLatencyMs: latencySummary(h),
        connects,
        requestHistogram: encodeHistogram(h),
      },
      notes,
    };
  } finally {
    h.destroy();
  }
}
