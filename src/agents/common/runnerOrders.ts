/**
 * What an agent hears from the runner: words on stdin, the end of stdin, and signals. The runner closes stdin to
 * stop an agent (a dead runner closes it too, so no agent outlives its run); SIGTERM means the same; SIGINT is
 * ignored, because Ctrl-C reaches the whole process group and the runner decides when its agents stop.
 */

/** A load agent: `start` once, on the first "start" line; `stop` on stdin's end or SIGTERM. */
export function onLoadOrders(orders: { start(): void; stop(): void }): void {
  let buffered = '';
  let started = false;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    if (started) return;
    buffered += d;
    if (buffered.includes('start')) {
      started = true;
      orders.start();
    }
  });
  process.stdin.on('end', orders.stop);
  process.on('SIGTERM', orders.stop);
  process.on('SIGINT', () => undefined);
}

/** A server agent: `stats` on each "stats" line; `stop` on stdin's end or close, or SIGTERM. */
export function onServerOrders(orders: { stats(): void; stop(): void }): void {
  process.stdin.on('data', (d: Buffer) => {
    if (d.toString().includes('stats')) orders.stats();
  });
  process.stdin.on('end', orders.stop);
  process.stdin.on('close', orders.stop);
  process.on('SIGTERM', orders.stop);
  process.on('SIGINT', () => undefined);
}

/**
 * A server's cluster worker: a terminal's Ctrl-C reaches the whole process group, workers included, but only the
 * runner decides when the server stops (a first Ctrl-C lets the load stop and report against a live server).
 */
export function ignoreTerminalInterrupts(): void {
  process.on('SIGINT', () => undefined);
}
