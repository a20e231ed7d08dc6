/**
 * The kind of a failed HTTP request, as a failure code of the result: the kernel's errno codes stay as they
 * are (ECONNREFUSED, ECONNRESET, EADDRNOTAVAIL, ...), undici's own errors keep their documented codes
 * (UND_ERR_HEADERS_TIMEOUT, UND_ERR_SOCKET, ...), with two exceptions the analysis relies on:
 * undici's connect timeout is the harness's connect timeout, `ETIMEDOUT` (counted as lost SYNs, as in raw
 * TCP mode), and a request cut short by the run being stopped is `ABORTED`.
 */
export const CONNECT_TIMEOUT_CODE = 'ETIMEDOUT';
export const ABORTED_CODE = 'ABORTED';

const UNDICI_CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT';
const UNDICI_ABORTED = 'UND_ERR_ABORTED';

export function httpFailureKind(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'ERROR';
  const { code, name } = err as { code?: unknown; name?: unknown };
  if (code === UNDICI_CONNECT_TIMEOUT) return CONNECT_TIMEOUT_CODE;
  if (code === UNDICI_ABORTED || name === 'AbortError') return ABORTED_CODE;
  if (typeof code === 'string' && code.length > 0) return code;
  return typeof name === 'string' && name.length > 0 && name !== 'Error' ? name : 'ERROR';
}

/** A response that arrived but is not the server agent's 200: its own kind, e.g. HTTP_503. */
export function httpStatusKind(status: number): string {
  return `HTTP_${status}`;
}
