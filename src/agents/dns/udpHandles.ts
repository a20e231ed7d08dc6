/**
 * Node's handle-level UDP binding (`process.binding('udp_wrap')`): the libuv UDP handle that dgram.Socket
 * wraps, without the EventEmitter, the per-call address lookup (dns.lookup on an IP literal, a nextTick) and the
 * state machinery around it. A raw lookup through it makes the same system calls as through dgram (socket,
 * bind/connect, sendmsg per query, recvmsg per answer, close).
 *
 * The binding is internal: `process.binding` is documentation-deprecated (DEP0111) but allow-listed for
 * udp_wrap and silent on Node 22 and 24. It is probed once, by shape; when anything is missing the raw client falls
 * back to dgram and says so in its result (`socketPath`).
 */

/** What the binding hands `onmessage` about the sender. */
export interface UdpPeer {
  address: string;
  port: number;
  family: string;
}

/** A libuv UDP handle as the binding exposes it. Methods return 0 or a negative errno (send: > 0 = sent at once). */
export interface UdpHandle {
  bind(address: string, port: number, flags: number): number;
  connect(address: string, port: number): number;
  /** Connected form: send(req, buffers, count, hasCallback). */
  send(req: UdpSendReq, list: Buffer[], count: number, hasCallback: boolean): number;
  recvStart(): number;
  recvStop(): number;
  close(onClose?: () => void): void;
  /** nread < 0: a receive error (negative errno); buf is the datagram otherwise. */
  onmessage: ((nread: number, handle: UdpHandle, buf: Buffer | undefined, peer: UdpPeer | undefined) => void) | null;
}

/** A send request; the buffers are kept on it while the kernel may still need them. */
export interface UdpSendReq {
  list?: Buffer[];
  oncomplete?: (status: number) => void;
}

export interface UdpWrapBinding {
  UDP: new () => UdpHandle;
  SendWrap: new () => UdpSendReq;
}

type Binder = (name: string) => unknown;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isFunction = (v: unknown): v is (...args: unknown[]) => unknown => typeof v === 'function';

/** The udp_wrap binding if it has every piece a handle-level lookup needs, else null. */
export function udpWrapBinding(): UdpWrapBinding | null {
  let b: unknown;
  try {
    const binding: unknown = (process as unknown as { binding?: unknown }).binding;
    b = isFunction(binding) ? (binding as Binder).call(process, 'udp_wrap') : null;
  } catch {
    return null;
  }
  if (!isObject(b) || !isFunction(b['UDP']) || !isFunction(b['SendWrap'])) return null;
  const proto: unknown = (b['UDP'] as { prototype?: unknown }).prototype;
  if (!isObject(proto)) return null;
  for (const m of ['bind', 'connect', 'send', 'recvStart', 'recvStop', 'close']) if (!isFunction(proto[m])) return null;
  return b as unknown as UdpWrapBinding;
}
