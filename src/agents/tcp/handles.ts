/**
 * Node's handle-level TCP binding (`process.binding('tcp_wrap')`): the libuv TCP handle that net.Socket wraps,
 * without the stream machinery around it. A connect through it makes the same system calls as net.connect
 * (socket, non-blocking connect, epoll, close or SO_LINGER 0 + close) at less than half the CPU, and an
 * accept through it skips the net.Socket a server would build for a connection that never sends a byte.
 *
 * The binding is internal: `process.binding` is documentation-deprecated (DEP0111) but allow-listed for
 * tcp_wrap and stream_wrap and silent on Node 22 and 24. It is probed once, by shape; when anything is missing
 * the agents fall back to the public API and say so in their result (`connectPath` / `acceptPath`).
 */

/** A libuv TCP handle as the binding exposes it. Methods return 0 or a negative errno. */
export interface TcpHandle {
  connect(req: TcpConnectReq, address: string, port: number): number;
  connect6(req: TcpConnectReq, address: string, port: number): number;
  /** Close with SO_LINGER 0: the peer gets an RST. */
  reset(onClose: () => void): number;
  close(onClose?: () => void): void;
  readStart(): number;
  readStop(): number;
  onread: ((this: TcpHandle, buf: ArrayBuffer | undefined) => void) | null;
}

/** One connect request; `oncomplete` runs once, with status 0 or a negative errno (UV_ECANCELED after close). */
export interface TcpConnectReq {
  oncomplete: (status: number, handle: TcpHandle, req: TcpConnectReq, readable: boolean, writable: boolean) => void;
}

export interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => TcpConnectReq;
  constants: { SOCKET: number; SERVER: number };
}

export interface StreamWrapBinding {
  /** Where a stream handle's onread finds the byte count (or the negative errno: UV_EOF, ECONNRESET). */
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

type Binder = (name: string) => unknown;

function binder(): Binder | null {
  const b: unknown = (process as unknown as { binding?: unknown }).binding;
  return typeof b === 'function' ? (b as Binder).bind(process) : null;
}

function load(name: string): unknown {
  try {
    return binder()?.(name) ?? null;
  } catch {
    return null;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isFunction = (v: unknown): v is (...args: unknown[]) => unknown => typeof v === 'function';

/** The tcp_wrap binding if it has every piece a handle-level connect needs, else null. */
export function tcpWrapBinding(): TcpWrapBinding | null {
  const b = load('tcp_wrap');
  if (!isObject(b) || !isFunction(b['TCP']) || !isFunction(b['TCPConnectWrap']) || !isObject(b['constants'])) return null;
  const proto: unknown = (b['TCP'] as { prototype?: unknown }).prototype;
  if (!isObject(proto)) return null;
  // readStart/readStop/onread live on the stream base prototype, one level up.
  for (const m of ['connect', 'connect6', 'reset', 'close', 'readStart', 'readStop']) if (!isFunction(proto[m])) return null;
  if (typeof (b['constants'] as Record<string, unknown>)['SOCKET'] !== 'number') return null;
  return b as unknown as TcpWrapBinding;
}

/** The stream_wrap binding's shared read state, if present. */
export function streamWrapBinding(): StreamWrapBinding | null {
  const b = load('stream_wrap');
  if (!isObject(b) || !(b['streamBaseState'] instanceof Int32Array) || typeof b['kReadBytesOrError'] !== 'number') return null;
  return b as unknown as StreamWrapBinding;
}
