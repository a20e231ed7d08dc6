/**
 * TCP server agent: a listener that must never be the bottleneck. The primary opens nothing itself:
 * with cluster's SCHED_NONE policy every worker process accepts on the one shared listening socket,
 * so the kernel hands connections to whichever worker is free. The backlog is as deep as the
 * namespace's somaxconn allows (the topology raises it).
 * The same listener speaks HTTP/1.1 (one fixed response per request, src/agents/httpFraming.ts): raw TCP
 * clients never send a byte, HTTP clients (`--protocol http`) get their answer.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import { configFromArgv, emit, type TcpServerConfig } from './protocol.js';
import { HttpRequestFramer, httpResponse } from './httpFraming.js';

cluster.schedulingPolicy = cluster.SCHED_NONE;

function runWorker(cfg: TcpServerConfig): void {
  let accepted = 0;
  // The client always closes first (RST or FIN) and the server only answers: a server that closed first would
  // keep TIME_WAIT entries for tuples the NAT later reuses, and the challenge ACKs those draw would stall
  // connects that no counter explains. The same holds for HTTP: a request asking `Connection: close` is answered
  // with `Connection: close`, and the client, told so, closes; the server still only answers the client's close.
  const server = net.createServer({ noDelay: true }, (sock) => {
    accepted++;
    let framer: HttpRequestFramer | null = null;
    sock.on('error', () => undefined);
    sock.on('end', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      framer ??= new HttpRequestFramer();
      const requests = framer.push(chunk);
      if (requests.length > 0) sock.write(requests.map(httpResponse).join(''));
      if (framer.broken) sock.destroy();
    });
  });
  server.on('error', (err) => {
    process.send?.({ kind: 'error', message: err.message });
    process.exit(1);
  });
  server.listen({ port: cfg.port, host: '0.0.0.0', backlog: cfg.backlog, exclusive: false }, () => {
    process.send?.({ kind: 'listening' });
  });
  setInterval(() => process.send?.({ kind: 'accepted', accepted }), 500).unref();
  process.on('disconnect', () => process.exit(0));
}

function runPrimary(cfg: TcpServerConfig): void {
  let listening = 0;
  const accepted = new Map<number, number>();
  const stop = (): void => {
    const total = [...accepted.values()].reduce((s, n) => s + n, 0);
    emit({ type: 'stats', accepted: total, workers: cfg.workers });
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  };
  for (let i = 0; i < cfg.workers; i++) {
    const w = cluster.fork();
    w.on('message', (m: { kind: string; accepted?: number; message?: string }) => {
      if (m.kind === 'listening' && ++listening === cfg.workers) {
        emit({ type: 'ready', role: 'tcp-server', pid: process.pid });
      } else if (m.kind === 'accepted') {
        accepted.set(w.id, m.accepted ?? 0);
      } else if (m.kind === 'error') {
        emit({ type: 'error', message: `server worker: ${m.message ?? 'unknown error'}` });
        process.exit(1);
      }
    });
    w.on('exit', (code) => {
      if (code !== 0 && code !== null) {
        emit({ type: 'error', message: `server worker exited with code ${code}` });
      }
    });
  }
  // The runner closes stdin to stop us; a dead runner closes it too, so no agent outlives its run.
  process.stdin.on('data', (d: Buffer) => {
    if (d.toString().includes('stats')) {
      const total = [...accepted.values()].reduce((s, n) => s + n, 0);
      emit({ type: 'stats', accepted: total, workers: cfg.workers });
    }
  });
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', () => undefined); // the runner decides when we stop
}

const cfg = configFromArgv<TcpServerConfig>();
if (cluster.isPrimary) runPrimary(cfg);
else runWorker(cfg);
