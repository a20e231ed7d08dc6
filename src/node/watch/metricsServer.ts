import http from 'node:http';
import type { Socket } from 'node:net';
import { UserError, errorMessage } from '../../errors.js';

/**
 * The metrics endpoint of `repro watch --prometheus`. On a node it listens on the node's address (hostNetwork), so
 * anything that reaches the node reaches it. Node's server defaults (no connection limit, 60 s for headers, 300 s
 * per request) let a connection flood or slow headers hold memory until the pod is killed. Here:
 * - at most MAX_CONNECTIONS sockets; one more evicts the oldest socket not answering a request at that moment
 *   (instead of refusing the newcomer, as `maxConnections` would: the scraper must get through a slow flood);
 * - headers within 5 s, a request within 10 s, keep-alive 5 s, checked every second; 8 KiB of headers;
 * - GET and HEAD of /metrics and HEALTH_PATH only: 404 for any other path, 405 for any other method.
 */
export const MAX_CONNECTIONS = 64;
export const HEALTH_PATH = '/healthz';
export const HEADERS_TIMEOUT_MS = 5000;

export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsServer {
  server: http.Server;
  /** host:port served (IPv6 in brackets). */
  address: string;
  close(): Promise<void>;
}

function reply(res: http.ServerResponse, status: number, type: string, body: string, head: boolean, extra: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(head ? undefined : body);
}

export function serveMetrics(addr: { host: string; port: number }, source: MetricsSource): Promise<MetricsServer> {
  const server = http.createServer(
    { maxHeaderSize: 8192, connectionsCheckingInterval: 1000, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 10_000, keepAliveTimeout: 5000 },
    (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      const head = req.method === 'HEAD';
      if (path !== '/metrics' && path !== HEALTH_PATH) return reply(res, 404, 'text/plain', `repro watch serves /metrics and ${HEALTH_PATH}\n`, head);
      if (req.method !== 'GET' && !head) return reply(res, 405, 'text/plain', 'GET or HEAD\n', false, { allow: 'GET, HEAD' });
      if (path === HEALTH_PATH) return reply(res, 200, 'text/plain', 'ok\n', head);
      source.metrics().then(
        (body) => reply(res, 200, source.contentType, body, head),
        (err: unknown) => reply(res, 500, 'text/plain', `${errorMessage(err)}\n`, head),
      );
    },
  );
  server.maxHeadersCount = 64;
  server.maxRequestsPerSocket = 100;
  server.timeout = 15_000; // a socket idle this long (no bytes either way) is closed

  // Open sockets, oldest first; `busy` while a request is being answered.
  const open = new Map<Socket, { busy: boolean }>();
  server.on('connection', (socket: Socket) => {
    open.set(socket, { busy: false });
    socket.once('close', () => open.delete(socket));
    if (open.size <= MAX_CONNECTIONS) return;
    for (const [s, st] of open) {
      if (!st.busy && s !== socket) {
        s.destroy();
        open.delete(s);
        return;
      }
    }
    socket.destroy(); // all busy answering: the newcomer waits its turn outside
    open.delete(socket);
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const st = open.get(req.socket);
    if (!st) return;
    st.busy = true;
    // Answered: the socket becomes the newest idle one (a keep-alive scraper is evicted last).
    res.once('finish', () => {
      if (!open.has(req.socket)) return;
      open.delete(req.socket);
      open.set(req.socket, { busy: false });
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new UserError(`--prometheus ${addr.host}:${addr.port}: ${err.code === 'EADDRINUSE' ? 'port in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.message}`));
    });
    // No host (--prometheus :PORT): every address, IPv6 and IPv4 (::, dual stack) where the kernel has IPv6.
    server.listen(addr.port, addr.host === '' ? undefined : addr.host, () => {
      const a = server.address();
      const address = typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : `${addr.host}:${addr.port}`;
      resolve({
        server,
        address,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((done) => server.close(() => done()));
        },
      });
    });
  });
}
