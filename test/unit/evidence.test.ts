import { describe, expect, it } from 'vitest';
import { attributeByEvidence, buildEvidence, describeRecord, evidenceComplete, evidenceNote, MAX_RECORDS } from '../../src/analysis/evidence.js';
import { parseCaptureStats, parseSynLine, synFilter } from '../../src/host/capture.js';
import type { CapturedSyn } from '../../src/types.js';

const SERVER = { address: '10.213.1.2', port: 8080 };
const ROUTER = '10.213.1.1';
const START_MS = 1_700_000_000_000;
const T0 = START_MS * 1000;

/** A SYN seen on the bridge port and the bridge (pre-NAT copies), and, unless lost, leaving translated. */
function syn(atUs: number, client: string, sport: number, seq: number, opts: { lost?: boolean; outPort?: number } = {}): CapturedSyn[] {
  const base = { dst: SERVER.address, dport: SERVER.port, seq };
  const pre: CapturedSyn[] = [
    { ...base, tUs: T0 + atUs, iface: 'rp-c1', direction: 'In', src: client, sport },
    { ...base, tUs: T0 + atUs + 3, iface: 'rp-br', direction: 'In', src: client, sport },
  ];
  if (opts.lost) return pre;
  return [...pre, { ...base, tUs: T0 + atUs + 9, iface: 'rp-srv', direction: 'Out', src: ROUTER, sport: opts.outPort ?? sport }];
}

const evidence = (syns: CapturedSyn[], portKept = true) =>
  buildEvidence({ syns, clientSubnet: '10.213.0.0/24', server: SERVER, loadStartedAtMs: START_MS, capturedDrops: 0, portKept });

describe('parseSynLine', () => {
  it('reads time, interface, direction, tuple and seq of tcpdump -tt -nn on a cooked capture', () => {
    const line = '1796164751.610653 rp-br In  IP 10.213.0.2.40123 > 10.213.1.2.8080: Flags [S], seq 3040218960, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0';
    expect(parseSynLine(line)).toEqual({
      tUs: 1796164751610653, iface: 'rp-br', direction: 'In', src: '10.213.0.2', sport: 40123, dst: '10.213.1.2', dport: 8080, seq: 3040218960,
    });
    expect(parseSynLine('1796164751.610700 veth9 Out IP 10.213.1.1.40123 > 10.213.1.2.8080: Flags [S], seq 5, win 1, length 0')?.direction).toBe('Out');
  });
  it('rejects lines of another shape', () => {
    expect(parseSynLine('reading from file x.pcap, link-type LINUX_SLL2')).toBeNull();
    expect(parseSynLine('1796164751.610653 lo In  IP6 ::1.5 > ::1.9: Flags [S], seq 1, length 0')).toBeNull();
  });
});

describe('parseCaptureStats', () => {
  it("reads the kernel's dropped count tcpdump prints on exit", () => {
    const err = 'tcpdump: listening on any\n12 packets captured\n14 packets received by filter\n2 packets dropped by kernel\n';
    expect(parseCaptureStats(err)).toEqual({ captured: 12, receivedByFilter: 14, droppedByKernel: 2 });
    expect(parseCaptureStats('1 packet captured\n1 packet received by filter\n0 packets dropped by kernel')?.droppedByKernel).toBe(0);
  });
  it('is null when tcpdump did not print its counts', () => {
    expect(parseCaptureStats('tcpdump: any: You don\'t have permission')).toBeNull();
  });
  it('filters SYNs without ACK to the server', () => {
    expect(synFilter('10.0.0.2', 80)).toBe('tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst host 10.0.0.2 and dst port 80');
  });
});

describe('buildEvidence', () => {
  it('a race pair: the loser never leaves the NAT, the winner with the same source port was translated just before', () => {
    const e = evidence([...syn(1000, '10.213.0.4', 40123, 77), ...syn(1010, '10.213.0.2', 40123, 123, { lost: true }), ...syn(5000, '10.213.0.3', 40124, 9)]);
    expect(e).toMatchObject({ captured: 3, capturedDrops: 0, lostSyns: 1, collisions: 1, recordsOmitted: 0 });
    expect(e.records).toEqual([
      { client: '10.213.0.2', sport: 40123, seq: 123, atMs: 1.01, reachedServer: false, collision: { client: '10.213.0.4', sport: 40123, translated: '10.213.1.1:40123', dtUs: 1 } },
    ]);
    expect(describeRecord(e.records[0]!)).toBe(
      '10.213.0.2:40123 (seq 123) at +0.001 s never left the NAT; 10.213.0.4:40123 had been translated to 10.213.1.1:40123 1 µs earlier',
    );
  });

  it('an injected drop with no partner is lost without collision', () => {
    const e = evidence([...syn(1000, '10.213.0.4', 40500, 77), ...syn(100_000, '10.213.0.2', 40123, 123, { lost: true })]);
    expect(e.lostSyns).toBe(1);
    expect(e.collisions).toBe(0);
    expect(e.records[0]?.collision).toBeNull();
    expect(describeRecord(e.records[0]!)).toContain('no other SYN was translated to its outer tuple within 1 ms');
  });

  it('a same-port SYN outside the window, or from the same client, is no collision', () => {
    const e = evidence([...syn(0, '10.213.0.4', 40123, 77), ...syn(5000, '10.213.0.2', 40123, 123, { lost: true })]);
    expect(e.collisions).toBe(0);
    const same = evidence([...syn(1000, '10.213.0.2', 40123, 77), ...syn(1010, '10.213.0.2', 40123, 123, { lost: true })]);
    expect(same.collisions).toBe(0);
  });

  it('retransmits: each lost transmission is one lost SYN, and the one that passes marks the flow as reaching the server', () => {
    const e = evidence([
      ...syn(0, '10.213.0.2', 40123, 123, { lost: true }),
      ...syn(1_000_000, '10.213.0.2', 40123, 123, { lost: true }),
      ...syn(2_000_000, '10.213.0.2', 40123, 123),
    ]);
    expect(e).toMatchObject({ captured: 3, lostSyns: 2, collisions: 0 });
    expect(e.records.map((r) => [r.atMs, r.reachedServer])).toEqual([[0, true], [1000, true]]);
  });

  it('copies on several interfaces are one transmission however far apart; a quick resend on the same interface is another', () => {
    const late = syn(0, '10.213.0.2', 40123, 5).map((x) => (x.iface === 'rp-br' ? { ...x, tUs: x.tUs + 5_000 } : x));
    expect(evidence(late)).toMatchObject({ captured: 1, lostSyns: 0 });
    const resent = evidence([...syn(0, '10.213.0.2', 40123, 5, { lost: true }), ...syn(3_000, '10.213.0.2', 40123, 5)]);
    expect(resent).toMatchObject({ captured: 2, lostSyns: 1 });
    expect(resent.records[0]?.reachedServer).toBe(true);
  });

  it('a flow that passed at once has no record; a passed retransmit is not a second lost SYN', () => {
    const e = evidence([...syn(0, '10.213.0.2', 40123, 1), ...syn(1_000_000, '10.213.0.2', 40123, 1)]);
    expect(e.lostSyns).toBe(0);
    expect(e.captured).toBe(2);
  });

  it('with remapped ports (--random-fully) a nearby SYN on another port is no collision: the outer tuple is unknown, the counters decide', () => {
    // Before: any other client's SYN within 1 ms was named the partner, though it got another port.
    const syns = [...syn(1000, '10.213.0.4', 40123, 77, { outPort: 61000 }), ...syn(1400, '10.213.0.2', 40555, 123, { lost: true })];
    expect(evidence(syns, true).collisions).toBe(0);
    const e = evidence(syns, false);
    expect(e.collisions).toBe(0);
    expect(e.records[0]?.collision).toBeNull();
    expect(e.tupleKnown).toBe(false);
    const byCounters = { unit: 'lost-syn' as const, lostSyns: 1, conntrackRace: 1, serverOverload: 0, unexplained: 0 };
    expect(attributeByEvidence(byCounters, e, { insert_failed: 1 }, 0)).toBeNull();
    expect(evidenceNote(e, false)).toContain('the outer tuple a lost SYN drew is not on the wire');
    expect(evidenceNote(e, false)).not.toContain('right after another client');
  });

  it('bounds the records and counts the rest', () => {
    const syns = Array.from({ length: MAX_RECORDS + 5 }, (_, i) => syn(i * 10_000, '10.213.0.2', 40000 + i, i, { lost: true })).flat();
    const e = evidence(syns);
    expect(e.records).toHaveLength(MAX_RECORDS);
    expect(e.recordsOmitted).toBe(5);
    expect(e.lostSyns).toBe(MAX_RECORDS + 5);
  });

  it('ignores SYNs to other destinations and is complete only without capture drops', () => {
    const other = { tUs: T0, iface: 'x', direction: 'In', src: '10.213.0.2', sport: 1, dst: '8.8.8.8', dport: 53, seq: 1 };
    expect(evidence([other]).captured).toBe(0);
    expect(evidenceComplete(evidence([]))).toBe(true);
    expect(evidenceComplete({ ...evidence([]), capturedDrops: 1 })).toBe(false);
    expect(evidenceComplete(undefined)).toBe(false);
  });
});

describe('evidenceLines', () => {
  it('tells the first few lost SYNs in words and counts the rest', async () => {
    const { evidenceLines, RECORDS_IN_WORDS } = await import('../../src/analysis/evidence.js');
    const syns = Array.from({ length: 8 }, (_, i) => syn(i * 10_000, '10.213.0.2', 40000 + i, i, { lost: true })).flat();
    const lines = evidenceLines(evidence(syns));
    expect(lines).toHaveLength(RECORDS_IN_WORDS + 1);
    expect(lines[0]).toBe('lost SYN: 10.213.0.2:40000 (seq 0) at +0.000 s never left the NAT; no other SYN was translated to its outer tuple within 1 ms');
    expect(lines.at(-1)).toBe("3 more lost SYNs (8 recorded in the result's modes[].evidence.records, 0 counted only)");
    expect(evidenceLines(evidence([]))).toEqual([]);
  });
});
