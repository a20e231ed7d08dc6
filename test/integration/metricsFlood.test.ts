import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { Watch } from '../../src/node/watch/watch.js';

/**
 * The endpoint of `repro watch --prometheus` listens on a node's address. Flooded with connections that send their
 * headers a byte at a time (slowloris), it must keep answering scrapes, hold a bounded number of sockets, and close
 * the slow ones within its header timeout, not Node's 60 s. Talked to over real sockets only.
 */
const gate = capabilityGate();
const FLOOD = 300;

/** One HTTP/1.1 exchange on a fresh socket: status line and body, or the error; gives up after `ms`. */
function exchange(port: number, request: string, ms = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer in ${ms} ms`));
    }, ms);
    s.on('connect', () => s.write(request));
    s.setEncoding('utf8').on('data', (d: string) => (data += d));
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      if (status === 0) reject(new Error(`closed without an answer: ${JSON.stringify(data.slice(0, 80))}`));
      else resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}
const get = (port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> =>
  exchange(port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe.skipIf(gate.skip)(`watch's metrics endpoint under a flood${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  let watch: Watch;
  let port = 0;
  beforeAll(async () => {
    watch = new Watch({ targets: [{ kind: 'host' }], intervalSec: 60, prometheus: { host: '127.0.0.1', port: 0 }, out: () => undefined, err: () => undefined });
    const address = await watch.start();
    port = Number(address?.split(':').pop());
  });
  afterAll(async () => {
    await watch.stop();
  });

  it('answers GET and HEAD of /metrics and /healthz only', async () => {
    const m = await get(port, '/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/^# HELP repro_conntrack_/m);
    expect(await get(port, '/metrics', 'HEAD')).toEqual({ status: 200, body: '' });
    expect((await get(port, '/healthz')).status).toBe(200);
    expect((await get(port, '/metrics/../etc')).status).toBe(404);
    expect((await get(port, '/metrics', 'POST')).status).toBe(405);
    // 16 KiB of headers: refused by the size limit, not buffered.
    expect((await exchange(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(16384)}\r\n\r\n`)).status).toBe(431);
  });

  it(`keeps answering through ${FLOOD} slow-header connections, holds a bounded number, drops them within the header timeout`, { timeout: 20_000 }, async () => {
    const closedAt: number[] = [];
    const start = Date.now();
    const flood = await Promise.all(
      Array.from({ length: FLOOD }, () => new Promise<net.Socket>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.on('error', () => undefined); // reset by the server: counted by 'close'
        s.on('close', () => closedAt.push(Date.now() - start));
        s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      })),
    );
    // A byte of header every 500 ms from every slow connection still open.
    const drip = setInterval(() => {
      for (const s of flood) if (!s.destroyed) s.write('a');
    }, 500);
    try {
      const scrapes: number[] = [];
      for (let i = 0; i < 10; i++) {
        scrapes.push((await get(port, '/metrics')).status);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(scrapes).toEqual(Array(10).fill(200));
      // Bounded: all but the limit's worth of the flood was closed by the server at once.
      const openNow = flood.filter((s) => !s.destroyed && !s.readableEnded).length;
      expect(openNow).toBeLessThanOrEqual(64);
      // The rest go when their headers are late: 5 s, checked every second.
      await new Promise((r) => setTimeout(r, 7000 - (Date.now() - start)));
      expect(flood.filter((s) => !s.destroyed && !s.readableEnded).length).toBe(0);
      expect(Math.max(...closedAt)).toBeLessThan(7000);
    } finally {
      clearInterval(drip);
      for (const s of flood) s.destroy();
    }
  });
});
