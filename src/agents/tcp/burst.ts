/**
 * TCP burst agent (tcp/burst): the burst load's one process for all client hosts. It runs in the runner's own
 * network namespace and creates no socket there: the native burst engine (nativeBurst.ts) gives each client
 * host a thread that enters that host's namespace, and every round all of them connect from one source port
 * at one instant. It speaks tcp/client's protocol (ready, start, progress, one `result` of the same shape, with
 * connectPath 'burst-native' and the rounds in `burst`), so the runner treats it like the clients it replaces.
 */
import { existsSync } from 'node:fs';
import { configFromArgv, emit, type TcpBurstConfig, type TcpClientResultEvent } from '../common/protocol.js';
import { ownResources, type AgentResources } from '../common/resources.js';
import { onLoadOrders } from '../common/runnerOrders.js';
import { errorMessage } from '../../errors.js';
import { createHistogram, encodeHistogram } from '../../histogram.js';
import type { NativeEngine } from '../common/nativeAddon.js';
import { BURST_SHARED, burstConfigProblems, burstOutcome, burstRounds, nativeBurstMissing, nativeBurstModule } from './nativeBurst.js';

const FINISH_POLL_MS = 20;

const cfg = configFromArgv<TcpBurstConfig>();
const fatal = (message: string): never => {
  emit({ type: 'error', message });
  process.exit(1);
};
const problems = burstConfigProblems(cfg);
if (problems.length > 0) fatal(`tcp/burst config: ${problems.join('; ')}`);
const engines = nativeBurstModule() ?? fatal(`the burst load needs the native burst engine: ${nativeBurstMissing() ?? 'unknown reason'}`);
const absent = cfg.netnsPaths.filter((p) => !existsSync(p));
if (absent.length > 0) fatal(`no network namespace at ${absent.join(', ')}`);

const shared = new Int32Array(new SharedArrayBuffer(BURST_SHARED.LENGTH * Int32Array.BYTES_PER_ELEMENT));
let engine: NativeEngine | null = null;
let started = 0;
let atStart: AgentResources | null = null;
let aborted = false;
let finished = false;
let poll: NodeJS.Timeout | undefined;

const counts = (): { attempts: number; succeeded: number; failed: number; stalls: number } => ({
  attempts: Atomics.load(shared, BURST_SHARED.ATTEMPTS),
  succeeded: Atomics.load(shared, BURST_SHARED.SUCCEEDED),
  failed: Atomics.load(shared, BURST_SHARED.FAILED),
  stalls: Atomics.load(shared, BURST_SHARED.STALLS),
});

const progressTimer = setInterval(() => {
  if (started) emit({ type: 'progress', ...counts() });
}, cfg.progressIntervalMs);

function finish(): void {
  if (finished) return;
  finished = true;
  clearInterval(progressTimer);
  clearInterval(poll);
  const c = counts();
  const empty = createHistogram();
  const none = encodeHistogram(empty);
  empty.destroy();
  // Never started (stopped first): nothing was attempted, and the result says so.
  const outcome = engine ? burstOutcome(engines.collect(engine), cfg.netnsPaths) : { histogram: none, failureHistogram: none, failures: {} };
  const result: TcpClientResultEvent = {
    type: 'result',
    attempts: c.attempts,
    succeeded: c.succeeded,
    failed: c.failed,
    ...outcome,
    elapsedMs: started ? Date.now() - started : 0,
    aborted,
    connectPath: 'burst-native',
    resources: ownResources(),
    ...(atStart ? { resourcesAtStart: atStart } : {}),
  };
  emit(result);
  process.exit(0);
}

onLoadOrders({
  start: () => {
    started = Date.now();
    atStart = ownResources();
    try {
      const e = engines.start(
        cfg.host, cfg.port, cfg.netnsPaths, cfg.cpus ?? [], burstRounds(cfg.connections, cfg.netnsPaths.length), cfg.durationMs,
        cfg.connectTimeoutMs, cfg.burstPorts[0], cfg.burstPorts[1], cfg.inFlightRounds, shared,
      );
      engine = e;
      poll = setInterval(() => {
        if (engines.finished(e)) finish();
      }, FINISH_POLL_MS);
    } catch (err) {
      fatal(`burst engine: ${errorMessage(err)}`);
    }
  },
  stop: () => {
    if (aborted || finished) return;
    aborted = true;
    Atomics.store(shared, BURST_SHARED.STOP, 1);
    if (!engine) finish();
  },
});
emit({ type: 'ready', role: 'tcp-client', pid: process.pid });
