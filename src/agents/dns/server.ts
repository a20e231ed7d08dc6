/**
 * DNS server agent: answers the test zone over UDP and TCP and must never be the bottleneck. Several
 * processes (cluster workers) read shared UDP sockets, one per backend address (answers must leave from the
 * address the query was sent to), with the largest receive buffer the kernel grants, and accept on one shared
 * TCP listener (for use-vc). The runner measures its namespace's UdpRcvbufErrors/UdpInErrors.
 */
import cluster from 'node:cluster';
import dgram from 'node:dgram';
import net from 'node:net';
import { configFromArgv, emit, LISTEN_BACKLOG } from '../common/protocol.js';
import type { DnsServerConfig } from './protocol.js';
import { answerQuery, frameTcp, unframeTcp } from './packets.js';
import { plainAnswerer } from './wire.js';
import { ownResources, sumResources, type AgentResources } from '../common/resources.js';
import { reportToPrimary } from '../common/freshReports.js';
import { ignoreTerminalInterrupts } from '../common/runnerOrders.js';
import { runServerPrimary, type WorkerReportBase } from '../common/serverPrimary.js';

cluster.schedulingPolicy = cluster.SCHED_NONE;

interface WorkerReport extends WorkerReportBase {
  kind: 'listening' | 'counts' | 'error';
  udp?: number;
  tcp?: number;
  recvBufferBytes?: number;
}

function runWorker(cfg: DnsServerConfig): void {
  ignoreTerminalInterrupts();
  let udp = 0;
  let tcp = 0;
  let ready = 0;
  let recvBufferBytes = 0;
  const report = (r: WorkerReport): void => void process.send?.(r);
  const fail = (err: Error): void => {
    report({ kind: 'error', message: err.message });
    process.exit(1);
  };

  // Plain queries are answered on the bytes; anything else goes through dns-packet (same answers).
  const plain = plainAnswerer(cfg.zone);
  const answer = (q: Buffer): Buffer | null => {
    const a = plain(q);
    return a === undefined ? answerQuery(q, cfg.zone) : a;
  };
  const sockets = cfg.addresses.map((address) => {
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: cfg.recvBufferBytes, sendBufferSize: cfg.recvBufferBytes });
    sock.on('error', fail);
    sock.on('message', (msg, rinfo) => {
      const a = answer(msg);
      if (!a) return;
      udp++;
      sock.send(a, rinfo.port, rinfo.address);
    });
    sock.bind({ port: cfg.port, address, exclusive: false }, () => {
      recvBufferBytes = sock.getRecvBufferSize();
      if (++ready === sockets.length + 1) report({ kind: 'listening', recvBufferBytes });
    });
    return sock;
  });

  const server = net.createServer({ noDelay: true }, (conn) => {
    let pending: Buffer = Buffer.alloc(0);
    conn.on('error', () => undefined);
    conn.on('data', (d: Buffer) => {
      const { messages, rest } = unframeTcp(Buffer.concat([pending, d]));
      pending = rest;
      for (const m of messages) {
        const a = answer(m);
        if (!a) continue;
        tcp++;
        conn.write(frameTcp(a));
      }
    });
    conn.on('end', () => conn.end());
  });
  server.on('error', fail);
  server.listen({ port: cfg.port, host: '0.0.0.0', backlog: LISTEN_BACKLOG, exclusive: false }, () => {
    if (++ready === sockets.length + 1) report({ kind: 'listening', recvBufferBytes });
  });
  reportToPrimary(() => report({ kind: 'counts', udp, tcp, resources: ownResources() }));
}

function runPrimary(cfg: DnsServerConfig): void {
  let recvBufferBytes = 0;
  const counts = new Map<number, { udp: number; tcp: number; resources: AgentResources }>();
  runServerPrimary<WorkerReport>({
    workers: cfg.workers,
    role: 'dns-server',
    label: 'dns server worker',
    onListening: (m) => {
      recvBufferBytes = m.recvBufferBytes ?? 0;
    },
    onReport: (id, m) => {
      counts.set(id, { udp: m.udp ?? 0, tcp: m.tcp ?? 0, resources: m.resources ?? { cpuMs: 0, peakRssKb: 0 } });
    },
    emitStats: () => {
      const all = [...counts.values()];
      emit({
        type: 'dns-stats',
        udpQueries: all.reduce((s, c) => s + c.udp, 0),
        tcpQueries: all.reduce((s, c) => s + c.tcp, 0),
        workers: cfg.workers,
        recvBufferBytes,
        resources: sumResources([ownResources(), ...all.map((c) => c.resources)]),
      });
    },
  });
}

const cfg = configFromArgv<DnsServerConfig>();
if (cluster.isPrimary) runPrimary(cfg);
else runWorker(cfg);
