/**
 * The server agent's HTTP/1.1 side, kept tiny: it frames requests on a byte stream (header block, then a
 * Content-Length body if any) and answers each with one fixed response. Raw TCP clients never send a byte,
 * so the same listener serves both protocols. Chunked request bodies are not supported (the harness's clients
 * send GETs): such a request is answered 501 and marked to close.
 */

/** Header blocks longer than this without an end are not HTTP: the connection is given up. */
export const MAX_HEADER_BYTES = 16 * 1024;

export interface FramedRequest {
  /** The client asked to close after this response (`Connection: close`, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Chunked bodies are not supported: answer 501. */
  unsupported: boolean;
}

export class HttpRequestFramer {
  private head = '';
  private bodyLeft = 0;
  /** A header block grew past MAX_HEADER_BYTES: not HTTP; the server gives the connection up. */
  broken = false;
  /** After a request the framer cannot follow (a chunked body), the rest of the stream is ignored. */
  private ignoring = false;

  /** Feed bytes as they arrive; returns the requests completed by them, in order. */
  push(chunk: Buffer): FramedRequest[] {
    const out: FramedRequest[] = [];
    let text = chunk.toString('latin1');
    while (text.length > 0 && !this.broken && !this.ignoring) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, text.length);
        this.bodyLeft -= n;
        text = text.slice(n);
        continue;
      }
      this.head += text;
      text = '';
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.head.length > MAX_HEADER_BYTES) this.broken = true;
        break;
      }
      const block = this.head.slice(0, end);
      text = this.head.slice(end + 4);
      this.head = '';
      const req = parseHead(block);
      if (req.unsupported) this.ignoring = true;
      this.bodyLeft = req.contentLength;
      out.push({ close: req.close || req.unsupported, unsupported: req.unsupported });
    }
    return out;
  }
}

interface ParsedHead {
  close: boolean;
  unsupported: boolean;
  contentLength: number;
}

function parseHead(block: string): ParsedHead {
  const lines = block.split('\r\n');
  const http10 = /\sHTTP\/1\.0$/i.test(lines[0] ?? '');
  let connection = '';
  let contentLength = 0;
  let chunked = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'connection') connection = value;
    else if (name === 'content-length') contentLength = Number.parseInt(value, 10) || 0;
    else if (name === 'transfer-encoding') chunked = value.includes('chunked');
  }
  const tokens = connection.split(',').map((t) => t.trim());
  const close = tokens.includes('close') || (http10 && !tokens.includes('keep-alive'));
  return { close, unsupported: chunked, contentLength: Math.max(0, contentLength) };
}

const BODY = 'ok\n';

/** The one response the server gives; `Connection: close` when the client asked for it. */
export function httpResponse(req: FramedRequest): string {
  const status = req.unsupported ? '501 Not Implemented' : '200 OK';
  const body = req.unsupported ? '' : BODY;
  return (
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n` +
    `connection: ${req.close ? 'close' : 'keep-alive'}\r\n\r\n${body}`
  );
}
