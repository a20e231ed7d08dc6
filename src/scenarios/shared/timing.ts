/** The bounds every scenario's mode loop keeps, named once. */

/** An agent that has not said `ready` within this is broken, not slow (a cold start takes ~1 s). */
export const AGENT_READY_TIMEOUT_MS = 30_000;
/** What the watchdog allows beyond a load's own bound (duration + in-flight timeouts): start-up and reporting. */
export const WATCHDOG_SLACK_MS = 15_000;
/** Let in-flight packets settle (a late SYN retransmit, a last RST) before the after-snapshot. */
export const SETTLE_MS = 200;
/** How often load agents report progress. */
export const PROGRESS_INTERVAL_MS = 500;
