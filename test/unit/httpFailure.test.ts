import { describe, expect, it } from 'vitest';
import { errors } from 'undici';
import { ABORTED_CODE, CONNECT_TIMEOUT_CODE, httpFailureKind, httpStatusKind } from '../../src/agents/tcp/httpFailure.js';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} 10.214.0.2:8080`), { code });
}

describe('httpFailureKind', () => {
  it("maps undici's connect timeout to the harness's connect timeout code (counted as lost SYNs)", () => {
    expect(httpFailureKind(new errors.ConnectTimeoutError())).toBe(CONNECT_TIMEOUT_CODE);
    expect(CONNECT_TIMEOUT_CODE).toBe('ETIMEDOUT');
  });

  it('keeps kernel errno codes as they are', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EADDRNOTAVAIL', 'EHOSTUNREACH']) expect(httpFailureKind(errno(code))).toBe(code);
  });

  it("keeps undici's other error codes: response timeouts, a closed socket", () => {
    expect(httpFailureKind(new errors.HeadersTimeoutError())).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(httpFailureKind(new errors.BodyTimeoutError())).toBe('UND_ERR_BODY_TIMEOUT');
    expect(httpFailureKind(new errors.SocketError('other side closed'))).toBe('UND_ERR_SOCKET');
  });

  it('counts a request cut short by the stop as ABORTED, by undici code or as a DOM AbortError', () => {
    expect(httpFailureKind(new errors.RequestAbortedError())).toBe(ABORTED_CODE);
    const ac = new AbortController();
    ac.abort();
    expect(httpFailureKind(ac.signal.reason)).toBe(ABORTED_CODE);
  });

  it('never loses a failure: anything else still gets a kind', () => {
    expect(httpFailureKind(new TypeError('bad'))).toBe('TypeError');
    expect(httpFailureKind(new Error('plain'))).toBe('ERROR');
    expect(httpFailureKind('a string')).toBe('ERROR');
    expect(httpFailureKind(null)).toBe('ERROR');
  });
});

describe('httpStatusKind', () => {
  it('names a non-200 answer by its status', () => {
    expect(httpStatusKind(503)).toBe('HTTP_503');
  });
});
