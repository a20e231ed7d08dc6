import { describe, expect, it } from 'vitest';
import {
  candidateSubnets,
  formatIpv4,
  formatPrefix,
  hostAddress,
  overlaps,
  parseIpv4,
  parsePrefix,
  parseRoutesAndAddrs,
  pickFreeSubnets,
} from '../../src/host/subnets.js';

const p = parsePrefix;

describe('parseIpv4 / formatIpv4', () => {
  it('converts dotted quads to uint32 and back', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('10.213.4.7')).toBe(10 * 2 ** 24 + 213 * 2 ** 16 + 4 * 2 ** 8 + 7);
    expect(parseIpv4('255.255.255.255')).toBe(2 ** 32 - 1);
    expect(formatIpv4(2 ** 32 - 1)).toBe('255.255.255.255');
    expect(formatIpv4(172 * 2 ** 24 + 17 * 2 ** 16 + 1)).toBe('172.17.0.1');
    expect(formatIpv4(parseIpv4('192.168.1.50'))).toBe('192.168.1.50');
  });

  it('rejects what is not an IPv4 address', () => {
    for (const bad of ['', '10.0.0', '10.0.0.0.1', '256.1.1.1', '1.2.3.-4', 'a.b.c.d', '1.2.3.4/24', '1..2.3', '1.2.3.1000']) {
      expect(() => parseIpv4(bad), bad).toThrow(/not an IPv4 address/);
    }
  });
});

describe('parsePrefix', () => {
  it('masks the host bits', () => {
    expect(formatPrefix(p('10.213.4.7/24'))).toBe('10.213.4.0/24');
    expect(formatPrefix(p('10.213.7.7/22'))).toBe('10.213.4.0/22');
    expect(formatPrefix(p('172.17.255.255/16'))).toBe('172.17.0.0/16');
    expect(p('8.8.8.8/0')).toEqual({ network: 0, length: 0 });
  });

  it('reads a bare address as /32', () => {
    expect(p('127.0.0.1')).toEqual({ network: parseIpv4('127.0.0.1'), length: 32 });
  });

  it('rejects bad lengths and addresses', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/8.5', '10.0.0.0/x', '10.0.0.0/', '10.0.0.0/8/9', '10.0.0.0/0x8', '10.0.0/8', '300.0.0.0/8']) {
      expect(() => p(bad), bad).toThrow(/not an IPv4/);
    }
  });
});

describe('overlaps', () => {
  it('is true for nested prefixes, both ways round', () => {
    expect(overlaps(p('10.0.0.0/8'), p('10.213.5.0/24'))).toBe(true);
    expect(overlaps(p('10.213.5.0/24'), p('10.0.0.0/8'))).toBe(true);
    expect(overlaps(p('10.213.5.0/24'), p('10.213.5.77/32'))).toBe(true);
    expect(overlaps(p('0.0.0.0/0'), p('192.168.1.0/24'))).toBe(true);
  });

  it('is true for equal prefixes', () => {
    expect(overlaps(p('10.213.0.0/24'), p('10.213.0.0/24'))).toBe(true);
  });

  it('is false for disjoint prefixes', () => {
    expect(overlaps(p('10.213.0.0/24'), p('10.213.1.0/24'))).toBe(false);
    expect(overlaps(p('172.17.0.0/16'), p('172.18.0.0/16'))).toBe(false);
    expect(overlaps(p('10.213.0.0/23'), p('10.213.2.0/24'))).toBe(false);
    expect(overlaps(p('10.213.0.255/32'), p('10.213.1.0/24'))).toBe(false);
  });
});

describe('hostAddress', () => {
  it('numbers usable hosts from 1', () => {
    expect(hostAddress(p('10.213.3.0/24'), 1)).toBe('10.213.3.1');
    expect(hostAddress(p('10.213.3.0/24'), 254)).toBe('10.213.3.254');
    expect(() => hostAddress(p('10.213.3.0/24'), 255)).toThrow(/outside 10.213.3.0\/24/);
    expect(() => hostAddress(p('10.213.3.0/24'), 0)).toThrow(/outside/);
  });
});

describe('pickFreeSubnets', () => {
  it('takes the first candidates when nothing is in use', () => {
    expect(pickFreeSubnets([], 2).map(formatPrefix)).toEqual(['10.213.0.0/24', '10.213.1.0/24']);
  });

  it('skips candidates that overlap a used range', () => {
    const used = [p('10.213.0.0/24'), p('10.213.2.0/23'), p('10.213.5.9/32')];
    expect(pickFreeSubnets(used, 3).map(formatPrefix)).toEqual(['10.213.1.0/24', '10.213.4.0/24', '10.213.6.0/24']);
  });

  it('moves on to 10.214.0.0/16 when 10.213.0.0/16 is taken', () => {
    expect(pickFreeSubnets([p('10.213.0.0/16')], 2).map(formatPrefix)).toEqual(['10.214.0.0/24', '10.214.1.0/24']);
  });

  it('does not pick two overlapping candidates', () => {
    const candidates = [p('10.213.0.0/24'), p('10.213.0.0/25'), p('10.213.0.128/25'), p('10.213.1.0/24')];
    expect(pickFreeSubnets([], 2, candidates).map(formatPrefix)).toEqual(['10.213.0.0/24', '10.213.1.0/24']);
  });

  it('throws when no candidate is free', () => {
    expect(() => pickFreeSubnets([p('10.0.0.0/8')], 1)).toThrow(/no free \/24/);
    expect(() => pickFreeSubnets([p('10.213.0.0/16'), p('10.214.0.0/17')], 129)).toThrow(/no free \/24 found among 512 candidates/);
    expect(pickFreeSubnets([p('10.213.0.0/16'), p('10.214.0.0/17')], 128)).toHaveLength(128);
  });

  it('has 512 candidates in 10.213/16 and 10.214/16', () => {
    const c = candidateSubnets();
    expect(c).toHaveLength(512);
    expect(formatPrefix(c[0]!)).toBe('10.213.0.0/24');
    expect(formatPrefix(c[511]!)).toBe('10.214.255.0/24');
  });
});

const ROUTES = `default via 192.168.1.1 dev eth0 proto dhcp src 192.168.1.50 metric 100
10.96.0.0/12 via 192.168.1.254 dev eth0
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown
192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.50 metric 100
blackhole 10.244.0.0/24 proto bird
unreachable default table 200 metric 4278198272
default via 10.50.0.1 dev wg0 table 51820
10.50.0.0/24 dev wg0 table 51820 scope link
local 10.50.0.2 dev wg0 table local proto kernel scope host src 10.50.0.2
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1
local 172.17.0.1 dev docker0 table local proto kernel scope host src 172.17.0.1
broadcast 172.17.255.255 dev docker0 table local proto kernel scope link src 172.17.0.1
local 192.168.1.50 dev eth0 table local proto kernel scope host src 192.168.1.50
broadcast 192.168.1.255 dev eth0 table local proto kernel scope link src 192.168.1.50
`;

const ADDRS = `1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.168.1.50/24 brd 192.168.1.255 scope global dynamic noprefixroute eth0\\       valid_lft 85000sec preferred_lft 85000sec
3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever preferred_lft forever
7: wg0    inet 10.50.0.2/24 scope global wg0\\       valid_lft forever preferred_lft forever
9: tun0    inet 10.213.9.1/30 scope global tun0\\       valid_lft forever preferred_lft forever
`;

describe('parseRoutesAndAddrs', () => {
  const prefixes = parseRoutesAndAddrs(ROUTES, ADDRS).map(formatPrefix);

  it('collects the prefixes of routes in every table, with or without a route type', () => {
    expect(prefixes.slice(0, 14)).toEqual([
      '10.96.0.0/12',
      '172.17.0.0/16',
      '192.168.1.0/24',
      '10.244.0.0/24',
      '10.50.0.0/24',
      '10.50.0.2/32',
      '127.0.0.0/8',
      '127.0.0.1/32',
      '127.255.255.255/32',
      '172.17.0.1/32',
      '172.17.255.255/32',
      '192.168.1.50/32',
      '192.168.1.255/32',
      // first address
      '127.0.0.0/8',
    ]);
  });

  it('collects the networks of the addresses', () => {
    expect(prefixes.slice(13)).toEqual(['127.0.0.0/8', '192.168.1.0/24', '172.17.0.0/16', '10.50.0.0/24', '10.213.9.0/30']);
  });

  it('skips default routes', () => {
    expect(prefixes).not.toContain('0.0.0.0/0');
    expect(prefixes.some((x) => x.endsWith('/0'))).toBe(false);
  });

  it('feeds pickFreeSubnets: a /30 address in 10.213.9.0 makes that /24 unavailable', () => {
    const used = parseRoutesAndAddrs(ROUTES, ADDRS);
    const picked = pickFreeSubnets(used, 12).map(formatPrefix);
    expect(picked).not.toContain('10.213.9.0/24');
    expect(picked[9]).toBe('10.213.10.0/24');
  });

  it('is empty for empty output', () => {
    expect(parseRoutesAndAddrs('', '')).toEqual([]);
  });
});

describe('parseIptablesPrefixes', () => {
  it('collects the prefixes that rules name, so the harness never picks a range a rule already claims', async () => {
    const { parseIptablesPrefixes, formatPrefix, pickFreeSubnets, parsePrefix } = await import('../../src/host/subnets.js');
    const save = [
      '*nat',
      ':POSTROUTING ACCEPT [0:0]',
      '-A POSTROUTING -s 10.213.0.0/24 ! -o br-x -j MASQUERADE',
      '-A PREROUTING -d 10.213.1.7/32 -p tcp -j DNAT --to-destination 10.213.2.9:80',
      '-A POSTROUTING -s 0.0.0.0/0 -j RETURN',
      'COMMIT',
    ].join('\n');
    const prefixes = parseIptablesPrefixes(save).map(formatPrefix);
    expect(prefixes).toEqual(['10.213.0.0/24', '10.213.1.7/32', '10.213.2.9/32']);
    const picked = pickFreeSubnets(parseIptablesPrefixes(save), 2).map(formatPrefix);
    expect(picked).toEqual(['10.213.3.0/24', '10.213.4.0/24']);
    expect(parsePrefix('10.213.2.9').length).toBe(32);
  });
});
