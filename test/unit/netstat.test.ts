import { describe, expect, it } from 'vitest';
import { netCountersDelta, parseNetCounters, sumCounters } from '../../src/host/netstat.js';

// /proc/net/snmp as a 6.x kernel prints it.
const SNMP = `Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 1 64 123456 0 0 310 0 0 123000 120500 0 2 0 0 0 0 0 0 0 120810
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps
Icmp: 11 0 0 10 0 0 0 0 1 0 0 0 0 0 13 0 0 0 12 0 0 0 0 0 1 0 0 0 0
IcmpMsg: InType3 InType8 OutType0 OutType3
IcmpMsg: 10 1 1 12
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 5000 20 3 1 7 90000 85000 42 0 300 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 800 2 0 810 0 0 0 5 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`;

// /proc/net/netstat (TcpExt shortened to its first columns plus the ones the harness reads).
const NETSTAT = `TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSynRetrans TCPOrigDataSent
TcpExt: 0 0 0 0 0 0 0 0 0 0 4990 0 0 0 0 120 0 0 17 19 3000 2000 1000 0 9 70000
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 9876543 8765432 0 0 0 0 0 123456 0 0 0 0
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK
MPTcpExt: 0 0 0 0 0 0
`;

describe('parseNetCounters', () => {
  const c = parseNetCounters(SNMP + NETSTAT);

  it('keys counters the way nstat does (prefix + name)', () => {
    expect(c['IpForwarding']).toBe(1);
    expect(c['IpInReceives']).toBe(123456);
    expect(c['IpOutTransmits']).toBe(120810);
    expect(c['IcmpInDestUnreachs']).toBe(10);
    expect(c['IcmpOutEchoReps']).toBe(1);
    expect(c['IcmpMsgInType3']).toBe(10);
    expect(c['IcmpMsgOutType3']).toBe(12);
    expect(c['TcpActiveOpens']).toBe(5000);
    expect(c['TcpMaxConn']).toBe(-1);
    expect(c['TcpCurrEstab']).toBe(7);
    expect(c['TcpRetransSegs']).toBe(42);
    expect(c['TcpOutRsts']).toBe(300);
    expect(c['UdpNoPorts']).toBe(2);
    expect(c['UdpIgnoredMulti']).toBe(5);
    expect(c['UdpLiteInDatagrams']).toBe(0);
  });

  it('reads /proc/net/netstat sections (TcpExt, IpExt, MPTcpExt)', () => {
    expect(c['TcpExtTW']).toBe(4990);
    expect(c['TcpExtDelayedACKs']).toBe(120);
    expect(c['TcpExtListenOverflows']).toBe(17);
    expect(c['TcpExtListenDrops']).toBe(19);
    expect(c['TcpExtTCPSynRetrans']).toBe(9);
    expect(c['TcpExtTCPOrigDataSent']).toBe(70000);
    expect(c['IpExtInOctets']).toBe(9876543);
    expect(c['IpExtInNoECTPkts']).toBe(123456);
    expect(c['MPTcpExtMPCapableSYNRX']).toBe(0);
  });

  it('does not mix up Udp and UdpLite, Icmp and IcmpMsg, Tcp and TcpExt', () => {
    expect(c['UdpInDatagrams']).toBe(800);
    expect(c['UdpLiteInDatagrams']).toBe(0);
    expect(c['IcmpInMsgs']).toBe(11);
    expect(c).not.toHaveProperty('IcmpInType3');
    expect(c).not.toHaveProperty('TcpListenOverflows');
  });

  it('has exactly one key per column of every section', () => {
    // Ip 20, Icmp 29, IcmpMsg 4, Tcp 15, Udp 9, UdpLite 9, TcpExt 26, IpExt 18, MPTcpExt 6.
    expect(Object.keys(c)).toHaveLength(20 + 29 + 4 + 15 + 9 + 9 + 26 + 18 + 6);
  });

  it('throws when a header line is not followed by its values', () => {
    expect(() => parseNetCounters('Tcp: ActiveOpens PassiveOpens\nUdp: 1 2\n')).toThrow(/"Tcp" header not followed/);
  });

  it('throws when names and values disagree in number', () => {
    expect(() => parseNetCounters('Udp: InDatagrams NoPorts\nUdp: 1 2 3\n')).toThrow(/Udp has 2 names, 3 values/);
  });

  it('throws on a value that is not a number', () => {
    expect(() => parseNetCounters('Udp: InDatagrams NoPorts\nUdp: 1 x\n')).toThrow(/UdpNoPorts is not a number/);
  });
});

describe('netCountersDelta', () => {
  const before = { TcpActiveOpens: 100, TcpCurrEstab: 5, TcpExtTCPSynRetrans: 3, TcpExtListenOverflows: 0, UdpInErrors: 7, TcpMaxConn: -1 };
  const after = { TcpActiveOpens: 160, TcpCurrEstab: 50, TcpExtTCPSynRetrans: 3, TcpExtListenOverflows: 0, UdpInErrors: 7, TcpMaxConn: -1, TcpExtNew: 4 };

  it('reports after - before and drops zero deltas', () => {
    expect(netCountersDelta(before, after)).toEqual({ TcpActiveOpens: 60 });
  });

  it('keeps listed counters even when they did not move, and reports missing kept counters as 0', () => {
    expect(netCountersDelta(before, after, ['TcpExtTCPSynRetrans', 'TcpExtListenOverflows', 'TcpExtListenDrops'])).toEqual({
      TcpActiveOpens: 60,
      TcpExtTCPSynRetrans: 0,
      TcpExtListenOverflows: 0,
      TcpExtListenDrops: 0,
    });
  });

  it('excludes gauges and constants such as TcpCurrEstab and TcpMaxConn', () => {
    const d = netCountersDelta(before, after);
    expect(d).not.toHaveProperty('TcpCurrEstab');
    expect(d).not.toHaveProperty('TcpMaxConn');
  });

  it('skips counters absent from the before sample', () => {
    expect(netCountersDelta(before, after)).not.toHaveProperty('TcpExtNew');
  });

  it('works on parsed /proc text', () => {
    const b = parseNetCounters(SNMP + NETSTAT);
    const a = parseNetCounters(
      (SNMP + NETSTAT)
        .replace('Tcp: 1 200 120000 -1 5000 20 3 1 7 ', 'Tcp: 1 200 120000 -1 5600 20 3 1 9 ')
        .replace('4990 0 0 0 0 120 0 0 17 19 ', '4990 0 0 0 0 120 0 0 20 25 '),
    );
    expect(netCountersDelta(b, a)).toEqual({ TcpActiveOpens: 600, TcpExtListenOverflows: 3, TcpExtListenDrops: 6 });
  });
});

describe('sumCounters', () => {
  it('adds counters key by key over all parts', () => {
    expect(sumCounters([{ a: 1, b: 2 }, { b: 3, c: 4 }, {}, { a: -1 }])).toEqual({ a: 0, b: 5, c: 4 });
  });

  it('is empty for no parts', () => {
    expect(sumCounters([])).toEqual({});
  });
});
