import dnsPacket from 'dns-packet';

/**
 * The DNS messages the harness's agents exchange, built on dns-packet. Queries carry an explicit id each
 * (dns-packet turns a missing id into 0, and a lookup's A and AAAA must not share one).
 */
export type QueryType = 'A' | 'AAAA';

/** What the test zone answers: documentation addresses (RFC 5737, RFC 3849), never anything routable. */
export const ZONE_ANSWERS: Record<QueryType, string> = { A: '192.0.2.53', AAAA: '2001:db8::53' };
export const ANSWER_TTL = 30;

const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;

/** A DNS name as the harness accepts it: dot-separated labels of letters, digits and inner hyphens. */
export function isDnsName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

/** Lowercase, no trailing dot: the form names are compared in. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The name the n-th lookup asks for: one label below the zone, so every lookup is a distinct question. */
export function lookupName(zone: string, n: number): string {
  return `h${n}.${canonicalName(zone)}`;
}

export function encodeQuery(id: number, type: QueryType, name: string): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: id & 0xffff,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, class: 'IN', name }],
  });
}

export interface DecodedResponse {
  id: number;
  rcode: string;
  type: string | null;
  name: string | null;
  addresses: string[];
}

/** Decode an answer; null when the bytes are not a DNS response. */
export function decodeResponse(buf: Buffer): DecodedResponse | null {
  let p: ReturnType<typeof dnsPacket.decode>;
  try {
    p = dnsPacket.decode(buf);
  } catch {
    return null;
  }
  if (p.type !== 'response') return null;
  const q = p.questions?.[0];
  const addresses = (p.answers ?? [])
    .filter((a): a is dnsPacket.StringAnswer => a.type === 'A' || a.type === 'AAAA')
    .map((a) => a.data);
  return { id: p.id ?? 0, rcode: (p as { rcode?: string }).rcode ?? 'NOERROR', type: q?.type ?? null, name: q?.name ?? null, addresses };
}

/** Is `name` the zone itself or below it? */
export function inZone(name: string, zone: string): boolean {
  const n = canonicalName(name);
  const z = canonicalName(zone);
  return n === z || n.endsWith(`.${z}`);
}

/**
 * The server's answer to one query message: A/AAAA for any name in the zone, an empty NOERROR for other
 * types in the zone, NXDOMAIN outside it, FORMERR for what does not decode. Null: not worth an answer.
 */
export function answerQuery(buf: Buffer, zone: string): Buffer | null {
  let q: ReturnType<typeof dnsPacket.decode>;
  try {
    q = dnsPacket.decode(buf);
  } catch {
    if (buf.length < 2) return null;
    return dnsPacket.encode({ type: 'response', id: buf.readUInt16BE(0), flags: RCODE_FORMERR });
  }
  if (q.type !== 'query') return null;
  const question = q.questions?.[0];
  const id = q.id ?? 0;
  const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  if (!question) return dnsPacket.encode({ type: 'response', id, flags: rd | RCODE_FORMERR });
  if (!inZone(question.name, zone)) {
    return dnsPacket.encode({ type: 'response', id, flags: rd | dnsPacket.AUTHORITATIVE_ANSWER | RCODE_NXDOMAIN, questions: [question] });
  }
  const answers: dnsPacket.Answer[] =
    question.type === 'A' || question.type === 'AAAA'
      ? [{ type: question.type, class: 'IN', name: question.name, ttl: ANSWER_TTL, data: ZONE_ANSWERS[question.type] }]
      : [];
  return dnsPacket.encode({ type: 'response', id, flags: rd | dnsPacket.AUTHORITATIVE_ANSWER, questions: [question], answers });
}

/** DNS over TCP frames each message with a two-byte length (RFC 1035 4.2.2). */
export function frameTcp(message: Buffer): Buffer {
  const out = Buffer.alloc(message.length + 2);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/** Split a TCP byte stream into messages; returns the messages and the unconsumed rest. */
export function unframeTcp(stream: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let off = 0;
  while (stream.length - off >= 2) {
    const len = stream.readUInt16BE(off);
    if (stream.length - off - 2 < len) break;
    messages.push(stream.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return { messages, rest: stream.subarray(off) };
}
