/**
 * One TCP connect attempt, opened and closed the way the client asked, through the cheapest path this Node has:
 * `handle` (libuv's TCP handle straight from the tcp_wrap binding, see tcpHandles.ts) or `socket` (net.Socket).
 * Both make the same system calls; the handle path spends about half the CPU per connect, which is the
 * load generator's attempt rate on a 2-core machine.
 *
 * `done(null)` reports an established connection, which the connector then closes itself (RST: SO_LINGER 0;
 * FIN: a plain close) right after `done` returns; `done(code)` reports a failure by errno name. `done` runs once,
 * never synchronously inside `open`, and never after `abort()`.
 */
import net from 'node:net';
import { errnoName } from '../common/errnoName.js';
import { tcpWrapBinding, type TcpConnectReq, type TcpHandle, type TcpWrapBinding } from './handles.js';
import type { CloseMode, ConnectPath } from '../../types.js';

export type { ConnectPath };

/** The paths the tcp client agent can take (the burst engine is tcp/burst's alone). */
export type ClientConnectPath = Exclude<ConnectPath, 'burst-native'>;

/** The paths a connect loop in JS can take. */
export type JsConnectPath = Exclude<ClientConnectPath, 'native'>;

export interface PendingConnect {
  /** Give up on the attempt (a timeout, a stop): close it; `done` will not run. */
  abort(): void;
}

export interface Connector {
  readonly path: JsConnectPath;
  open(done: (error: string | null) => void): PendingConnect;
}

export interface ConnectTarget {
  host: string;
  port: number;
  close: CloseMode;
}

const noop = (): void => undefined;


function handleConnector(binding: TcpWrapBinding, target: ConnectTarget): Connector {
  const { TCP, TCPConnectWrap, constants } = binding;
  const v6 = net.isIPv6(target.host);
  if (!v6 && !net.isIPv4(target.host)) throw new Error(`handle connects need an IP address, got "${target.host}"`);
  const rst = target.close === 'rst';
  // One closure per attempt would cost more than the attempt's bookkeeping: the state rides on the request.
  interface Attempt extends TcpConnectReq {
    done: ((error: string | null) => void) | null;
  }
  function oncomplete(this: void, status: number, handle: TcpHandle, req: TcpConnectReq): void {
    const a = req as Attempt;
    const done = a.done;
    a.done = null;
    if (!done) return; // aborted: the handle is already closing (this is its UV_ECANCELED)
    if (status === 0) {
      done(null);
      if (rst) handle.reset(noop);
      else handle.close();
    } else {
      handle.close();
      done(errnoName(status));
    }
  }
  return {
    path: 'handle',
    open(done) {
      const handle = new TCP(constants.SOCKET);
      const req = new TCPConnectWrap() as Attempt;
      req.done = done;
      req.oncomplete = oncomplete;
      const err = v6 ? handle.connect6(req, target.host, target.port) : handle.connect(req, target.host, target.port);
      if (err !== 0) {
        req.done = null;
        handle.close();
        process.nextTick(done, errnoName(err));
      }
      return {
        abort() {
          if (req.done === null) return;
          req.done = null;
          handle.close();
        },
      };
    },
  };
}

function socketConnector(target: ConnectTarget): Connector {
  return {
    path: 'socket',
    open(done) {
      let settled = false;
      const sock = net.connect({ host: target.host, port: target.port });
      sock.once('connect', () => {
        if (settled) return;
        settled = true;
        // Close first: done() may end the load, whose stop aborts what it still holds (a FIN, not the RST asked for).
        if (target.close === 'rst') sock.resetAndDestroy();
        else sock.destroy();
        done(null);
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        sock.destroy();
        done(err.code ?? 'ERROR');
      });
      return {
        abort() {
          if (settled) return;
          settled = true;
          sock.destroy();
        },
      };
    },
  };
}

/** `auto`: the handle path when this Node has it, else net.Socket. `handle` refuses to fall back. */
export function createConnector(target: ConnectTarget, prefer: JsConnectPath | 'auto' = 'auto'): Connector {
  if (prefer === 'socket') return socketConnector(target);
  const binding = tcpWrapBinding();
  if (binding && (net.isIP(target.host) !== 0)) return handleConnector(binding, target);
  if (prefer === 'handle') throw new Error('handle-level connects are not available on this Node (no usable tcp_wrap binding)');
  return socketConnector(target);
}
