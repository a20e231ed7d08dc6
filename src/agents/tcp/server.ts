/**
 * TCP server agent: a listener that must never be the bottleneck. The primary opens nothing itself:
 * with cluster's SCHED_NONE policy every worker process accepts on the one shared listening socket,
 * so the kernel hands connections to whichever worker is free. The backlog is as deep as the
 * namespace's somaxconn allows (the topology raises it).
 * The same listener speaks HTTP/1.1 (one fixed response per request, src/agents/httpFraming.ts): raw TCP
 * clients never send a byte, HTTP clients (`--protocol http`) get their answer.
 * With `protocol: 'tcp'` each worker swaps its listener's accept callback for a bare sink (tcpHandles.ts): the
 * accepted handle only reads until the client's RST or FIN and is then closed, without a net.Socket per
 * connection; that cuts the server's CPU per connection to about a quarter, so the load, not the server, sets the pace.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import { configFromArgv, emit, type AcceptPath, type TcpServerConfig } from '../common/protocol.js';
import { streamWrapBinding, type TcpHandle } from './handles.js';
import { ownResources, sumResources, type AgentResources } from '../common/resources.js';
import { HttpRequestFramer, httpResponse } from './httpFraming.js';
import { reportToPrimary } from '../common/freshReports.js';
import { ignoreTerminalInterrupts } from '../common/runnerOrders.js';
import { runServerPrimary, type WorkerReportBase } from '../common/serverPrimary.js';

cluster.schedulingPolicy = cluster.SCHED_NONE;

interface WorkerReport extends WorkerReportBase {
  kind: 'listening' | 'accepted' | 'error';
  accepted?: number;
  acceptPath?: AcceptPath;
}

/**
 * Replace the listening handle's accept callback with a sink: count, read until EOF or reset, close.
 * Returns false (nothing changed) when this Node's handles do not look as expected.
 */
function installSink(server: net.Server, onAccept: () => void): boolean {
  const stream = streamWrapBinding();
  const listener: unknown = (server as unknown as { _handle?: unknown })._handle;
  if (!stream || typeof listener !== 'object' || listener === null || !('onconnection' in listener)) return false;
  const { streamBaseState, kReadBytesOrError } = stream;
  function onread(this: TcpHandle): void {
    // The client never sends a byte; a negative count is its RST (ECONNRESET) or FIN (EOF): close our side now.
    if ((streamBaseState[kReadBytesOrError] ?? 0) < 0) {
      this.readStop();
      this.close();
    }
  }
  (listener as { onconnection: (status: number, client?: TcpHandle) => void }).onconnection = (status, client) => {
    if (status !== 0 || !client) return;
    onAccept();
    client.onread = onread;
    if (client.readStart() !== 0) client.close();
  };
  return true;
}

function runWorker(cfg: TcpServerConfig): void {
  ignoreTerminalInterrupts();
  const report = (r: WorkerReport): void => void process.send?.(r);
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
    report({ kind: 'error', message: err.message });
    process.exit(1);
  });
  let acceptPath: AcceptPath = 'socket';
  server.listen({ port: cfg.port, host: '0.0.0.0', backlog: cfg.backlog, exclusive: false }, () => {
    if (cfg.protocol === 'tcp' && installSink(server, () => accepted++)) acceptPath = 'handle';
    report({ kind: 'listening', acceptPath });
  });
  reportToPrimary(() => report({ kind: 'accepted', accepted, acceptPath, resources: ownResources() }));
}

function runPrimary(cfg: TcpServerConfig): void {
  const accepted = new Map<number, number>();
  const workerResources = new Map<number, AgentResources>();
  let acceptPath: AcceptPath = 'handle';
  runServerPrimary<WorkerReport>({
    workers: cfg.workers,
    role: 'tcp-server',
    label: 'server worker',
    onListening: (m) => {
      if (m.acceptPath === 'socket') acceptPath = 'socket';
    },
    onReport: (id, m) => {
      accepted.set(id, m.accepted ?? 0);
      if (m.resources) workerResources.set(id, m.resources);
    },
    emitStats: () => {
      const total = [...accepted.values()].reduce((s, n) => s + n, 0);
      const resources = sumResources([ownResources(), ...workerResources.values()]);
      emit({ type: 'stats', accepted: total, workers: cfg.workers, acceptPath, resources });
    },
  });
}

const cfg = configFromArgv<TcpServerConfig>();
if (cluster.isPrimary) runPrimary(cfg);
else runWorker(cfg);
