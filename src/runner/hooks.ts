import type { ModeResult } from '../types.js';

/** Where a scenario's load stands, for progress lines. */
export interface ScenarioProgress {
  mode: string;
  index: number;
  total: number;
  attempts: number;
  target: number;
  stalls: number;
  failed: number;
  elapsedMs: number;
}

/** What a scenario runner tells its caller while it runs, and how it is asked to stop. */
export interface ScenarioHooks {
  /** Told the run id before anything is created (so a second Ctrl-C can clean up that run alone). */
  onRunId?: (runId: string) => void;
  onPhase?: (text: string) => void;
  onProgress?: (p: ScenarioProgress) => void;
  onModeDone?: (m: ModeResult) => void;
  signal?: AbortSignal;
}
