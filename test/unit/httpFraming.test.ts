import { describe, expect, it } from 'vitest';
import { HttpRequestFramer, MAX_HEADER_BYTES, httpResponse } from '../../src/agents/tcp/httpFraming.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const GET_CLOSE = 'GET / HTTP/1.1\r\nhost: 10.214.0.2:8080\r\nconnection: close\r\n\r\n';
const GET_KEEP = 'GET / HTTP/1.1\r\nhost: 10.214.0.2:8080\r\nconnection: keep-alive\r\n\r\n';

describe('HttpRequestFramer', () => {
  it('frames one request per header block and reads Connection: close', () => {
    const f = new HttpRequestFramer();
    expect(f.push(b(GET_CLOSE))).toEqual([{ close: true, unsupported: false }]);
    expect(f.push(b(GET_KEEP))).toEqual([{ close: false, unsupported: false }]);
  });

  it('follows a request split anywhere, even inside the blank line, and pipelined requests in one chunk', () => {
    const f = new HttpRequestFramer();
    const text = GET_KEEP + GET_CLOSE;
    const seen = [];
    for (let i = 0; i < text.length; i += 7) seen.push(...f.push(b(text.slice(i, i + 7))));
    expect(seen.map((r) => r.close)).toEqual([false, true]);
    expect(new HttpRequestFramer().push(b(GET_KEEP + GET_KEEP + GET_CLOSE)).map((r) => r.close)).toEqual([false, false, true]);
  });

  it('waits for the end of a header block and returns nothing for bytes that complete no request', () => {
    const f = new HttpRequestFramer();
    expect(f.push(b('GET / HTTP/1.1\r\nhost: x\r\n'))).toEqual([]);
    expect(f.push(b('\r\n'))).toEqual([{ close: false, unsupported: false }]);
  });

  it('skips a Content-Length body, even when it looks like a request itself', () => {
    const body = GET_CLOSE; // a body that happens to be text of a request must not be framed as one
    const post = `POST /x HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const f = new HttpRequestFramer();
    expect(f.push(b(post.slice(0, 40)))).toEqual([{ close: false, unsupported: false }]);
    expect(f.push(b(post.slice(40) + GET_CLOSE))).toEqual([{ close: true, unsupported: false }]);
  });

  it('treats HTTP/1.0 as close unless it asks for keep-alive, and reads connection tokens case-insensitively', () => {
    expect(new HttpRequestFramer().push(b('GET / HTTP/1.0\r\n\r\n'))[0]?.close).toBe(true);
    expect(new HttpRequestFramer().push(b('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n'))[0]?.close).toBe(false);
    expect(new HttpRequestFramer().push(b('GET / HTTP/1.1\r\nCONNECTION: TE, Close\r\n\r\n'))[0]?.close).toBe(true);
    expect(new HttpRequestFramer().push(b('GET / HTTP/1.1\r\n\r\n'))[0]?.close).toBe(false);
  });

  it('answers a chunked request as unsupported, to close, and ignores the rest of the stream', () => {
    const f = new HttpRequestFramer();
    expect(f.push(b('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'))).toEqual([{ close: true, unsupported: true }]);
    expect(f.push(b(GET_KEEP))).toEqual([]);
    expect(f.broken).toBe(false);
  });

  it('gives up a header block longer than the limit', () => {
    const f = new HttpRequestFramer();
    expect(f.push(Buffer.alloc(MAX_HEADER_BYTES + 1, 'a'))).toEqual([]);
    expect(f.broken).toBe(true);
    expect(f.push(b(GET_KEEP))).toEqual([]);
  });
});

describe('httpResponse', () => {
  it('is a complete 200 with a Content-Length that matches its body, keep-alive or close as asked', () => {
    for (const close of [true, false]) {
      const r = httpResponse({ close, unsupported: false });
      const [head, body] = r.split('\r\n\r\n');
      expect(head?.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      expect(head).toContain(`content-length: ${body?.length}`);
      expect(head).toContain(`connection: ${close ? 'close' : 'keep-alive'}`);
    }
  });

  it('answers an unsupported request 501 with an empty body', () => {
    const r = httpResponse({ close: true, unsupported: true });
    expect(r.startsWith('HTTP/1.1 501 ')).toBe(true);
    expect(r).toContain('content-length: 0');
    expect(r.endsWith('\r\n\r\n')).toBe(true);
  });
});
