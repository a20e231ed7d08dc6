import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { answerQuery, canonicalName, encodeQuery, lookupName, type QueryType } from '../../src/agents/dns/packets.js';
import { buildQuery, encodeName, lookupQname, plainAnswerer, rcodeName, readResponse } from '../../src/agents/dns/wire.js';
import { rng } from '../random.js';

const ZONE = 'repro.test';
const answer = plainAnswerer(ZONE);

/** A query dns-packet builds from scratch (other flags, classes, types, extra records than encodeQuery's). */
function packetQuery(p: Partial<dnsPacket.Packet> & { questions: dnsPacket.Question[] }): Buffer {
  return dnsPacket.encode({ type: 'query', id: 77, flags: dnsPacket.RECURSION_DESIRED, ...p });
}

describe('DNS wire format on the bytes (against dns-packet)', () => {
  it("writes a lookup's name as encodeName(lookupName()) does (zone in canonical form)", () => {
    for (const zone of ['repro.test', 'Repro.Test.', 'a.b.c']) {
      for (const n of [0, 7, 123456789, 10_000_000 * 7 + 3]) expect(lookupQname(encodeName(canonicalName(zone)), n)).toEqual(encodeName(lookupName(zone, n)));
    }
  });

  it('builds the same query bytes as encodeQuery', () => {
    for (const type of ['A', 'AAAA'] as const) {
      for (const name of ['h0.repro.test', 'h123456789.repro.test', 'H5.Repro.Test', 'repro.test', 'a-b_c.x.repro.test.']) {
        const id = 0xbeef;
        expect(buildQuery(id, type, encodeName(name))).toEqual(encodeQuery(id, type, name.replace(/\.$/, '')));
      }
    }
    expect(buildQuery(0x1ffff, 'A', encodeName('x.repro.test')).readUInt16BE(0)).toBe(0xffff);
  });

  it('answers plain queries with the same bytes as answerQuery (in the zone, other types, outside the zone)', () => {
    const types: QueryType[] = ['A', 'AAAA'];
    const cases: Buffer[] = [];
    for (const type of types) for (const name of ['h1.repro.test', 'h1.Repro.TEST', 'repro.test', 'deep.h-1.repro.test', 'h1.other.test', 'xrepro.test', 'test']) cases.push(encodeQuery(9, type, name));
    for (const type of ['MX', 'TXT', 'NS', 'SOA', 'SRV', 'ANY'] as const) cases.push(packetQuery({ questions: [{ type, class: 'IN', name: 'h2.repro.test' }] }));
    cases.push(packetQuery({ flags: 0, questions: [{ type: 'A', class: 'IN', name: 'h3.repro.test' }] }));
    cases.push(packetQuery({ flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED, questions: [{ type: 'A', class: 'IN', name: 'h3.repro.test' }] }));
    for (const q of cases) {
      const fast = answer(q);
      expect(fast, dnsPacket.decode(q).questions?.[0]?.name).toBeDefined();
      expect(fast).toEqual(answerQuery(q, ZONE));
    }
  });

  it('leaves every other message to dns-packet (undefined), never answers it differently', () => {
    const others: Buffer[] = [
      dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', class: 'IN', name: 'h1.repro.test' }] }),
      packetQuery({ questions: [{ type: 'A', class: 'IN', name: 'h1.repro.test' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as dnsPacket.Answer] }),
      packetQuery({ questions: [{ type: 'A', class: 'IN', name: 'h1.repro.test' }, { type: 'AAAA', class: 'IN', name: 'h1.repro.test' }] }),
      packetQuery({ questions: [] }),
      packetQuery({ questions: [{ type: 'A', class: 'CH', name: 'h1.repro.test' }] }),
      packetQuery({ questions: [{ type: 'A', class: 'IN', name: 'h\u00e9.repro.test' }] }),
      Buffer.from([1, 2, 3]),
      Buffer.alloc(0),
    ];
    for (const q of others) expect(answer(q)).toBeUndefined();
  });

  it('never throws and never disagrees with dns-packet on mutated queries', () => {
    const random = rng(8);
    for (let i = 0; i < 20_000; i++) {
      const q = Buffer.from(encodeQuery(Math.floor(random() * 0x10000), random() < 0.5 ? 'A' : 'AAAA', lookupName(ZONE, i)));
      for (let k = 0; k < 1 + Math.floor(random() * 3); k++) q[Math.floor(random() * q.length)] = Math.floor(random() * 256);
      const m = q.subarray(0, random() < 0.1 ? Math.floor(random() * q.length) : q.length);
      const fast = answer(m);
      if (fast !== undefined) expect(fast).toEqual(answerQuery(m, ZONE));
    }
  });

  it("reads a response's id and rcode, and only when it answers our name", () => {
    const qname = encodeName('h7.repro.test');
    const a = answerQuery(encodeQuery(0x1234, 'AAAA', 'h7.repro.test'), ZONE) as Buffer;
    expect(readResponse(a, qname)).toEqual({ id: 0x1234, rcode: 0 });
    expect(readResponse(answerQuery(encodeQuery(5, 'A', 'H7.REPRO.test'), ZONE) as Buffer, qname)).toEqual({ id: 5, rcode: 0 });
    const nx = answerQuery(encodeQuery(6, 'A', 'h7.other.test'), ZONE) as Buffer;
    expect(readResponse(nx, encodeName('h7.other.test'))).toEqual({ id: 6, rcode: 3 });
    expect(readResponse(a, encodeName('h8.repro.test'))).toBeNull();
    expect(readResponse(encodeQuery(1, 'A', 'h7.repro.test'), qname)).toBeNull();
    expect(readResponse(a.subarray(0, 11), qname)).toBeNull();
    expect(readResponse(a.subarray(0, 20), qname)).toBeNull();
  });

  it('names rcodes as dns-packet does', () => {
    for (let rcode = 0; rcode < 16; rcode++) {
      const r = dnsPacket.decode(dnsPacket.encode({ type: 'response', id: 1, flags: rcode }));
      expect(rcodeName(rcode)).toBe((r as { rcode?: string }).rcode);
    }
  });
});
