/**
 * What the client agent and its load workers (raw TCP connects or HTTP requests) tell each other.
 * Both kinds of worker take the same start message and report in the same shape, so the agent merges either.
 */
import type { CloseMode } from '../../types.js';
import type { ClientConnectPath } from './connector.js';

export interface WorkerStart {
  host: string;
  port: number;
  concurrency: number;
  quota: number;
  durationMs: number;
  connectTimeoutMs: number;
  close: CloseMode;
  progressIntervalMs: number;
  /** HTTP workers only: reuse pooled keep-alive connections instead of one fresh connection per request. */
  keepalive: boolean;
  /** TCP workers only: how connects are made (absent: auto, the handle path when this Node has it). */
  connectPath?: ClientConnectPath | 'auto';
}

export interface Counts {
  attempts: number;
  succeeded: number;
  failed: number;
  stalls: number;
}

/** TCP connects an HTTP worker opened: one per request without keep-alive, few with it. */
export interface ConnectCounts {
  attempted: number;
  succeeded: number;
  failed: number;
}

/** HTTP workers' extra figures: whole-request latency (µs, hdr compressed base64) and the connects opened. */
export interface HttpFigures {
  requestHistogram: string;
  connects: ConnectCounts;
}

export type WorkerMessage =
  /** The worker is set up and listening: a 'start' from now on releases its load at once. */
  | { kind: 'ready' }
  | ({ kind: 'progress' } & Counts)
  | ({
      kind: 'done';
      histogram: string;
      failureHistogram: string;
      failures: Record<string, number>;
      http?: HttpFigures;
      /** TCP workers: the path their connects took. */
      connectPath?: ClientConnectPath;
    } & Counts);

/** Attempts at least this slow count as stalls in progress reports. */
export const STALL_MS = 900;
