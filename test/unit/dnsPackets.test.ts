import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import {
  answerQuery, canonicalName, decodeResponse, encodeQuery, frameTcp, inZone, isDnsName, lookupName, unframeTcp, ZONE_ANSWERS,
} from '../../src/agents/dns/packets.js';

const ZONE = 'repro.test';

describe('DNS messages', () => {
  it('encodes a query with its own id, type and the RD flag', () => {
    const q = dnsPacket.decode(encodeQuery(0x1234, 'AAAA', 'h7.repro.test'));
    expect(q.type).toBe('query');
    expect(q.id).toBe(0x1234);
    expect(q.flags ?? 0).toBe(dnsPacket.RECURSION_DESIRED);
    expect(q.questions).toEqual([{ type: 'AAAA', class: 'IN', name: 'h7.repro.test' }]);
  });

  it('keeps ids within 16 bits (an A and an AAAA id never collapse to 0)', () => {
    expect(dnsPacket.decode(encodeQuery(0x1ffff, 'A', 'x.repro.test')).id).toBe(0xffff);
    expect(dnsPacket.decode(encodeQuery(0x10001, 'A', 'x.repro.test')).id).toBe(1);
  });

  it('answers A and AAAA in the zone with the zone addresses and the query id', () => {
    for (const type of ['A', 'AAAA'] as const) {
      const answer = answerQuery(encodeQuery(4242, type, 'h1.Repro.Test'), ZONE);
      expect(answer).not.toBeNull();
      const r = decodeResponse(answer as Buffer);
      expect(r).toEqual({ id: 4242, rcode: 'NOERROR', type, name: 'h1.Repro.Test', addresses: [ZONE_ANSWERS[type]] });
      const raw = dnsPacket.decode(answer as Buffer);
      expect((raw.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER).toBeTruthy();
    }
  });

  it('answers NXDOMAIN outside the zone and an empty NOERROR for other types in it', () => {
    const nx = decodeResponse(answerQuery(encodeQuery(9, 'A', 'example.com'), ZONE) as Buffer);
    expect(nx?.rcode).toBe('NXDOMAIN');
    expect(nx?.addresses).toEqual([]);
    const notRepro = decodeResponse(answerQuery(encodeQuery(9, 'A', 'xrepro.test'), ZONE) as Buffer);
    expect(notRepro?.rcode).toBe('NXDOMAIN');
    const txt = dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'TXT', name: 'a.repro.test' }] });
    const r = decodeResponse(answerQuery(txt, ZONE) as Buffer);
    expect(r?.rcode).toBe('NOERROR');
    expect(r?.addresses).toEqual([]);
  });

  it('answers FORMERR to garbage with an id, nothing to a runt or to a response', () => {
    const garbage = Buffer.from([0xab, 0xcd, 0xff, 0xff, 0xff]);
    const r = decodeResponse(answerQuery(garbage, ZONE) as Buffer);
    expect(r?.id).toBe(0xabcd);
    expect(r?.rcode).toBe('FORMERR');
    expect(answerQuery(Buffer.from([1]), ZONE)).toBeNull();
    const response = answerQuery(encodeQuery(1, 'A', 'a.repro.test'), ZONE) as Buffer;
    expect(answerQuery(response, ZONE)).toBeNull();
  });

  it('does not take a query for a response', () => {
    expect(decodeResponse(encodeQuery(1, 'A', 'a.repro.test'))).toBeNull();
    expect(decodeResponse(Buffer.from('not dns'))).toBeNull();
  });

  it('frames DNS over TCP with a two-byte length and splits a stream at any cut', () => {
    const a = encodeQuery(1, 'A', 'h1.repro.test');
    const b = encodeQuery(2, 'AAAA', 'h1.repro.test');
    const stream = Buffer.concat([frameTcp(a), frameTcp(b)]);
    expect(stream.readUInt16BE(0)).toBe(a.length);
    for (let cut = 0; cut <= stream.length; cut++) {
      const first = unframeTcp(stream.subarray(0, cut));
      const second = unframeTcp(Buffer.concat([first.rest, stream.subarray(cut)]));
      const all = [...first.messages, ...second.messages];
      expect(all.map((m) => dnsPacket.decode(m).id)).toEqual([1, 2]);
      expect(second.rest.length).toBe(0);
    }
  });
});

describe('names', () => {
  it('accepts DNS names and refuses what is not one', () => {
    for (const ok of ['repro.test', 'a', 'x-1.example.', 'A1.B2.c3', `${'a'.repeat(63)}.test`]) expect(isDnsName(ok)).toBe(true);
    for (const bad of ['', '.', 'a..b', '-a.test', 'a-.test', 'a_b.test', 'a b', `${'a'.repeat(64)}.test`, 'ü.test', `${'a.'.repeat(127)}a`]) {
      expect(isDnsName(bad)).toBe(false);
    }
  });

  it('compares names without case or trailing dot', () => {
    expect(canonicalName('Repro.TEST.')).toBe('repro.test');
    expect(inZone('H1.repro.test.', 'repro.test')).toBe(true);
    expect(inZone('repro.test', 'Repro.Test.')).toBe(true);
    expect(inZone('notrepro.test', 'repro.test')).toBe(false);
  });

  it('gives every lookup its own name one label below the zone', () => {
    expect(lookupName('Repro.Test.', 12)).toBe('h12.repro.test');
    expect(inZone(lookupName(ZONE, 0), ZONE)).toBe(true);
  });
});
