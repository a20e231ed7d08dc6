import { typedHostWarnings } from '../../analysis/hostWarnings.js';
import { runVerdict } from '../../analysis/verdict.js';
import { SLOW_THRESHOLD_MS, TOLERANCE_DESCRIPTION } from '../../analysis/signatures.js';
import { RESULT_SCHEMA, type EnvironmentInfo, type ModeResult, type ResultFile } from '../../types.js';

export interface RunRecord {
  runId: string;
  startedAt: string;
  command: string;
  interrupted: boolean;
  environment: EnvironmentInfo;
  modes: ModeResult[];
  summary: string;
}

/** The scenario-independent part of result.json; the caller adds `scenario` and `config`. finishedAt is now. */
export function resultBase(r: RunRecord): Omit<ResultFile, 'scenario' | 'config'> {
  return {
    schema: RESULT_SCHEMA,
    runId: r.runId,
    startedAt: r.startedAt,
    finishedAt: new Date().toISOString(),
    command: r.command,
    interrupted: r.interrupted,
    environment: r.environment,
    signatureBands: { description: TOLERANCE_DESCRIPTION, slowThresholdMs: SLOW_THRESHOLD_MS },
    modes: r.modes,
    verdict: runVerdict(r.modes),
    summary: r.summary,
    hostWarnings: typedHostWarnings(r.environment),
  };
}
