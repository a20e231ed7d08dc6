/**
 * Hand-rolled DNS wire format for the hot paths (the raw client's queries and answers, the server's answers to
 * plain queries): no object tree per message, bytes in and bytes out. Only the shapes the harness itself
 * exchanges are handled here; anything else goes through dns-packet (src/dns/packets.ts), and the unit tests
 * hold both to the same bytes.
 */
import { ANSWER_TTL, canonicalName, type QueryType } from './packets.js';

const HEADER = 12;
const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_RD = 0x0100;
const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
export const QTYPE: Record<QueryType, number> = { A: TYPE_A, AAAA: TYPE_AAAA };
/** The zone's answers in wire form: 192.0.2.53 and 2001:db8::53 (ZONE_ANSWERS). */
const RDATA: Record<number, Buffer> = {
  [TYPE_A]: Buffer.from([192, 0, 2, 53]),
  [TYPE_AAAA]: Buffer.from('20010db8000000000000000000000053', 'hex'),
};

/** rcode names as dns-packet spells them. */
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];
export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? `RCODE_${rcode}`;
}

/** A name as DNS labels (length-prefixed, ending in the root's zero byte); the name must be a DNS name. */
export function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const out = Buffer.alloc(labels.reduce((s, l) => s + 1 + l.length, 1));
  let off = 0;
  for (const l of labels) {
    out[off++] = l.length;
    off += out.write(l, off, 'latin1');
  }
  out[off] = 0;
  return out;
}

/** encodeName(lookupName(zone, n)) without the strings: the label h<n>, then the zone's labels (encodeName(zone)). */
export function lookupQname(zoneWire: Buffer, n: number): Buffer {
  const digits = String(n);
  const out = Buffer.allocUnsafe(2 + digits.length + zoneWire.length);
  out[0] = 1 + digits.length;
  out[1] = 0x68; // 'h'
  out.write(digits, 2, 'latin1');
  zoneWire.copy(out, 2 + digits.length);
  return out;
}

/** A query with recursion desired and one question (class IN), as encodeQuery in packets.ts builds it. */
export function buildQuery(id: number, type: QueryType, qname: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(HEADER + qname.length + 4);
  buf.writeUInt16BE(id & 0xffff, 0);
  buf.writeUInt16BE(FLAG_RD, 2);
  buf.writeUInt16BE(1, 4);
  buf.writeUInt32BE(0, 6);
  buf.writeUInt16BE(0, 10);
  qname.copy(buf, HEADER);
  buf.writeUInt16BE(QTYPE[type], HEADER + qname.length);
  buf.writeUInt16BE(CLASS_IN, HEADER + qname.length + 2);
  return buf;
}

function lower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/** Does the question at offset 12 of `buf` ask for `qname` (ASCII case-insensitive)? */
function questionIs(buf: Buffer, qname: Buffer): boolean {
  if (buf.length < HEADER + qname.length + 4) return false;
  for (let i = 0; i < qname.length; i++) if (lower(buf[HEADER + i] ?? 0) !== lower(qname[i] ?? 0)) return false;
  return true;
}

/**
 * A response to one of our queries for `qname`: its id and rcode. Null when the bytes are no response, or the
 * response's question is another name (glibc ignores those too).
 */
export function readResponse(buf: Buffer, qname: Buffer): { id: number; rcode: number } | null {
  if (buf.length < HEADER) return null;
  const flags = buf.readUInt16BE(2);
  if ((flags & FLAG_QR) === 0 || buf.readUInt16BE(4) < 1 || !questionIs(buf, qname)) return null;
  return { id: buf.readUInt16BE(0), rcode: flags & 0x0f };
}

/** Labels a plain name may have here: letters, digits, '-' and '_'; anything else goes the slow way. */
function plainLabelByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f;
}

/**
 * The server's answer, computed on the bytes: `(query) => answer` for queries of the plain shape (no response
 * bit, one question of class IN, no other records, a name of plain labels without compression), `undefined` for any other
 * message, which the caller hands to dns-packet. The same bytes as answerQuery() in packets.ts.
 */
export function plainAnswerer(zone: string): (query: Buffer) => Buffer | undefined {
  const zoneWire = encodeName(canonicalName(zone));
  return (q) => {
    if (q.length < HEADER + 1 + 4) return undefined;
    const flags = q.readUInt16BE(2);
    if ((flags & FLAG_QR) !== 0 || q.readUInt16BE(4) !== 1 || q.readUInt16BE(6) !== 0 || q.readUInt32BE(8) !== 0) return undefined;
    // Walk the labels; remember where each starts, to find the zone's suffix.
    let off = HEADER;
    let starts = 0;
    let suffixAt = -1;
    const zoneStart = q.length - 4 - zoneWire.length;
    for (;;) {
      const len = q[off];
      if (len === undefined || len > 63) return undefined;
      if (off === zoneStart) suffixAt = off;
      if (len === 0) break;
      if (off + 1 + len > q.length - 5) return undefined;
      for (let i = off + 1; i <= off + len; i++) if (!plainLabelByte(q[i] ?? 0)) return undefined;
      off += 1 + len;
      starts++;
    }
    const nameEnd = off + 1;
    if (starts === 0 || nameEnd + 4 !== q.length || nameEnd - HEADER > 255) return undefined;
    let inZone = suffixAt >= 0;
    for (let i = 0; inZone && i < zoneWire.length; i++) if (lower(q[suffixAt + i] ?? 0) !== zoneWire[i]) inZone = false;
    const qtype = q.readUInt16BE(nameEnd);
    if (q.readUInt16BE(nameEnd + 2) !== CLASS_IN) return undefined;
    const rdata = inZone ? RDATA[qtype] : undefined;
    const questionLen = nameEnd + 4 - HEADER;
    const nameLen = nameEnd - HEADER;
    const out = Buffer.allocUnsafe(HEADER + questionLen + (rdata ? nameLen + 10 + rdata.length : 0));
    out.writeUInt16BE(q.readUInt16BE(0), 0);
    out.writeUInt16BE(FLAG_QR | FLAG_AA | (flags & FLAG_RD) | (inZone ? 0 : RCODE_NXDOMAIN), 2);
    out.writeUInt16BE(1, 4);
    out.writeUInt16BE(rdata ? 1 : 0, 6);
    out.writeUInt32BE(0, 8);
    q.copy(out, HEADER, HEADER, nameEnd + 4);
    if (rdata) {
      let o = HEADER + questionLen;
      q.copy(out, o, HEADER, nameEnd);
      o += nameLen;
      out.writeUInt16BE(qtype, o);
      out.writeUInt16BE(CLASS_IN, o + 2);
      out.writeUInt32BE(ANSWER_TTL, o + 4);
      out.writeUInt16BE(rdata.length, o + 8);
      rdata.copy(out, o + 10);
    }
    return out;
  };
}
