/**
 * DNS client agent: lookups from worker_threads (so every CPU sends at once), in one of three kinds:
 * raw (queries on the bytes with glibc's timing: the native engine, else libuv handles from JS), libc (glibc's
 * getaddrinfo itself), burst (lockstep workers on one source port). Workers' histograms travel encoded and are
 * merged here into one `dns-result` line.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { configFromArgv, emit } from '../common/protocol.js';
import {
  BURST_CTL, RAW_SOCKET_CHOICES, type DnsClientConfig, type DnsClientKind, type DnsWorkerStart, type RawSocketChoice, type RawSocketPath,
} from './protocol.js';
import { createHistogram, decodeHistogram, encodeHistogram } from '../../histogram.js';
import { runFields, runLoadPrimary } from '../common/loadPrimary.js';
import type { LoopCounts, LoopMessage } from './workerLoop.js';
import { nativeDnsMissing, nativeDnsModule } from './nativeDns.js';
import { udpWrapBinding } from './udpHandles.js';

const WORKER_SCRIPT: Record<DnsClientKind, string> = { raw: 'rawWorker.js', libc: 'libcWorker.js', burst: 'burstWorker.js' };
/** Lookups slower than this count as stalls in progress lines (just under glibc's 5 s timeout). */
const STALL_MS = 4900;

const cfg = configFromArgv<DnsClientConfig>();

/**
 * How raw lookups are made: the config's `sockets`, else REPRO_DNS_SOCKETS, else auto: the native engine when it
 * was built (dnsEngineWorker.ts), else libuv handles from JS (dnsRawWorker.ts: udp_wrap, else dgram).
 * A path asked for by name that is not there is an error, not a quiet fallback.
 */
function rawSockets(): RawSocketChoice {
  const env = process.env['REPRO_DNS_SOCKETS'];
  const wanted = cfg.sockets && cfg.sockets !== 'auto' ? cfg.sockets : (env ?? 'auto');
  const choice = RAW_SOCKET_CHOICES.find((c) => c === wanted);
  const fail = (message: string): never => {
    emit({ type: 'error', message });
    process.exit(1);
  };
  if (!choice) return fail(`REPRO_DNS_SOCKETS must be one of ${RAW_SOCKET_CHOICES.join(', ')}, got "${wanted}"`);
  if (choice === 'native' && !nativeDnsModule()) return fail(`DNS socket path "native" asked for, but ${nativeDnsMissing() ?? 'the engine is missing'}`);
  if (choice === 'udp_wrap' && !udpWrapBinding()) return fail(`DNS socket path "udp_wrap" asked for, but Node ${process.version} has no usable udp_wrap binding`);
  if (choice === 'auto' && nativeDnsModule()) return 'native';
  return choice;
}
const sockets: RawSocketChoice = cfg.kind === 'raw' ? rawSockets() : 'auto';
const workerScript = cfg.kind === 'raw' && sockets === 'native' ? 'engineWorker.js' : WORKER_SCRIPT[cfg.kind];

/**
 * glibc's getaddrinfo blocks a libuv pool thread per lookup, and the pool's size is read once, at its first
 * use: so the libc client re-executes itself with UV_THREADPOOL_SIZE set before anything can touch the pool.
 */
const poolSize = String(Math.min(1024, cfg.workers * cfg.concurrency + 4));
if (cfg.kind === 'libc' && process.env['UV_THREADPOOL_SIZE'] !== poolSize) {
  const child = spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: poolSize } });
  child.on('exit', (code, signal) => {
    // Say why on stderr (the runner quotes it) when the real client ended abnormally.
    if (code !== 0) process.stderr.write(`dns client (libc pool of ${poolSize}) ended with ${signal ?? `code ${code}`}\n`);
    process.exit(code ?? (signal ? 128 : 1));
  });
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  process.on('SIGINT', () => undefined);
} else {
  runClient();
}

function runClient(): void {
  const burst = cfg.kind === 'burst';
  const ctl = new SharedArrayBuffer(4 * (BURST_CTL.SLOTS + cfg.workers));
  const answeredAt = new SharedArrayBuffer(8 * cfg.workers);
  // Burst workers move in lockstep: each does every round, one query per round.
  const quota = (i: number): number =>
    burst ? Math.max(1, Math.floor(cfg.lookups / cfg.workers)) : Math.floor(cfg.lookups / cfg.workers) + (i < cfg.lookups % cfg.workers ? 1 : 0);
  // Distinct names per worker: raw/libc workers get a block each; burst workers share the round's name.
  const nameBlock = Math.ceil(cfg.lookups / cfg.workers);

  const counts: LoopCounts[] = [];
  const total = createHistogram();
  const failureTotal = createHistogram();
  const failures: Record<string, number> = {};
  let socketPath: RawSocketPath | undefined;

  const sums = (): LoopCounts =>
    counts.reduce(
      (a, c) => ({
        attempts: a.attempts + c.attempts, succeeded: a.succeeded + c.succeeded, failed: a.failed + c.failed,
        stalls: a.stalls + c.stalls, queries: a.queries + c.queries, retries: a.retries + c.retries,
        partial: a.partial + c.partial,
      }),
      { attempts: 0, succeeded: 0, failed: 0, stalls: 0, queries: 0, retries: 0, partial: 0 },
    );

  const workers = Array.from({ length: cfg.workers }, (_, i) => {
    const start: DnsWorkerStart = {
      server: cfg.server,
      port: cfg.port,
      zone: cfg.zone,
      timeoutMs: cfg.timeoutMs,
      attempts: cfg.attempts,
      nameOffset: cfg.nameOffset + (burst ? 0 : i * nameBlock),
      burstPorts: cfg.burstPorts,
      ...(sockets !== 'native' ? { sockets } : {}),
      loop: {
        concurrency: burst ? 1 : cfg.concurrency,
        quota: quota(i),
        // Lockstep workers must all stop at the same round: the duration ends a burst through the shared flag.
        durationMs: burst ? Number.MAX_SAFE_INTEGER : cfg.durationMs,
        progressIntervalMs: cfg.progressIntervalMs,
        stallMs: STALL_MS,
      },
      ...(burst ? { burst: { ctl, answeredAt, workers: cfg.workers, index: i } } : {}),
    };
    counts.push({ attempts: 0, succeeded: 0, failed: 0, stalls: 0, queries: 0, retries: 0, partial: 0 });
    return new Worker(fileURLToPath(new URL(`./${workerScript}`, import.meta.url)), { workerData: start });
  });

  const stopWorkers = (): void => {
    // Burst workers may sit in their barrier: the shared flag reaches them where a message cannot.
    Atomics.store(new Int32Array(ctl), BURST_CTL.STOP, 1);
    Atomics.notify(new Int32Array(ctl), BURST_CTL.GEN);
    for (const w of workers) w.postMessage({ kind: 'stop' });
  };
  const primary = runLoadPrimary({
    role: 'dns-client',
    workers,
    progressIntervalMs: cfg.progressIntervalMs,
    progress: () => {
      const s = sums();
      return { attempts: s.attempts, succeeded: s.succeeded, failed: s.failed, stalls: s.stalls };
    },
    stopWorkers,
    onStart: () => {
      if (burst) setTimeout(stopWorkers, cfg.durationMs).unref();
    },
    result: (run) => {
      const s = sums();
      return {
        type: 'dns-result',
        lookups: s.attempts,
        succeeded: s.succeeded,
        failed: s.failed,
        failures,
        histogram: encodeHistogram(total),
        failureHistogram: encodeHistogram(failureTotal),
        queriesSent: s.queries,
        retries: s.retries,
        partial: s.partial,
        ...runFields(run),
        ...(socketPath ? { socketPath } : {}),
      };
    },
  });

  workers.forEach((worker, i) => {
    worker.on('message', (m: LoopMessage) => {
      if (m.kind === 'ready') {
        if (m.socketPath) socketPath = m.socketPath;
        return primary.workerReady();
      }
      counts[i] = { attempts: m.attempts, succeeded: m.succeeded, failed: m.failed, stalls: m.stalls, queries: m.queries, retries: m.retries, partial: m.partial };
      if (m.kind === 'done') {
        const h = decodeHistogram(m.histogram);
        total.add(h);
        h.destroy();
        const f = decodeHistogram(m.failureHistogram);
        failureTotal.add(f);
        f.destroy();
        for (const [k, v] of Object.entries(m.failures)) failures[k] = (failures[k] ?? 0) + v;
        primary.workerDone(i);
      }
    });
    worker.on('error', (err) => {
      emit({ type: 'error', message: `dns client worker: ${err.message}` });
      primary.workerDone(i);
    });
  });
}
