import type { HttpFigures } from '../../agents/tcp/loadWorker.js';
import type { ConnectPath } from '../../agents/tcp/connector.js';

/** What one TCP client agent reported of a mode's load (the scenarios that connect: tcp-syn, vxlan). */
export interface ClientOutcome {
  attempts: number;
  succeeded: number;
  failed: number;
  failures: Record<string, number>;
  histogram: string;
  /** `--protocol http`: request latencies and the connects opened. */
  http?: HttpFigures;
  /** Raw connects: the path the client agent's connects took (absent in HTTP runs and older agents). */
  connectPath?: ConnectPath;
}
