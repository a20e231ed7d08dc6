import { describe, expect, it } from 'vitest';
import { assessKernel } from '../../src/analysis/kernelFixes.js';
import { LINE_WIDTH, insertFailedReading, lineCountersMoved, parseListenAddress, watchLine } from '../../src/node/watch/watch.js';
import { fromUname } from './fixtures/distroKernels.js';

const COLUMNS_6X = ['entries', 'clashres', 'found', 'insert_failed', 'drop', 'early_drop', 'chainlength'];

describe('--prometheus HOST:PORT', () => {
  it('accepts IPv4, names, bracketed IPv6 and port 0', () => {
    expect(parseListenAddress('127.0.0.1:9477')).toEqual({ host: '127.0.0.1', port: 9477 });
    expect(parseListenAddress('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseListenAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(parseListenAddress('[::1]:9477')).toEqual({ host: '::1', port: 9477 });
  });
  it(':PORT is every address, as node_exporter --web.listen-address', () => {
    expect(parseListenAddress(':9477')).toEqual({ host: '', port: 9477 });
  });
  it.each(['9477', '127.0.0.1', '127.0.0.1:65536', ':', ':9x', '127.0.0.1:9x', '::1:9477', 'a b:1'])('refuses %s in one line', (bad) => {
    expect(() => parseListenAddress(bad)).toThrow(/^--prometheus ".*": expected HOST:PORT or :PORT/);
  });
});

describe('the line per interval', () => {
  it('gives each counter its delta over the interval, and the table fill', () => {
    const at = new Date(2026, 0, 2, 3, 4, 5);
    expect(watchLine(at, 'host', { insert_failed: 3, drop: 4, clashres: 0, early_drop: 0, found: 9 }, 120, 262144)).toBe(
      '03:04:05 host insert_failed +3 drop +4 clashres +0 early_drop +0 entries 120/262144',
    );
  });
  it('leaves out counters the kernel does not have', () => {
    const line = watchLine(new Date(0), 'pid:7', { insert_failed: 0, drop: 0 }, null, null);
    expect(line).toMatch(/ pid:7 insert_failed \+0 drop \+0 entries \?\/\?$/);
    expect(line).not.toMatch(/clashres/);
  });
  it('stays within 100 columns: the limit gives way first, then the label', () => {
    // A lab's router with a race under way keeps everything.
    expect(watchLine(new Date(0), 'repro-0a1b2c-rtr', { insert_failed: 12, drop: 12, clashres: 0, early_drop: 0 }, 40_000, 262_144)).toMatch(
      / repro-0a1b2c-rtr insert_failed \+12 drop \+12 clashres \+0 early_drop \+0 entries 40000\/262144$/,
    );
    const big = { insert_failed: 1234, drop: 2345, clashres: 3456, early_drop: 4567 };
    const noLimit = watchLine(new Date(0), 'pid:12345', big, 1_000_000, 4_000_000);
    expect(noLimit).toMatch(/ pid:12345 insert_failed \+1234 drop \+2345 clashres \+3456 early_drop \+4567 entries 1000000$/);
    const label = 'container:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    const short = watchLine(new Date(0), label, big, 1_000_000, 4_000_000);
    expect(short).toMatch(/^\d\d:\d\d:\d\d container:0[^ ]*… insert_failed \+1234 drop .* entries 1000000$/);
    for (const l of [noLimit, short, watchLine(new Date(0), label, { insert_failed: 1e12, drop: 1e12, clashres: 1e12, early_drop: 1e12 }, 1e9, 1e9)]) {
      expect(l.length, l).toBeLessThanOrEqual(LINE_WIDTH);
    }
  });
  it('--changes-only: an interval moved when a line counter did, whatever the others did', () => {
    expect(lineCountersMoved({ insert_failed: 0, drop: 0, clashres: 0, early_drop: 0, found: 40 })).toBe(false);
    expect(lineCountersMoved({ insert_failed: 0, drop: 0, clashres: 1, early_drop: 0 })).toBe(true);
    expect(lineCountersMoved({})).toBe(false);
  });
});

describe('the reading when insert_failed moves', () => {
  it('nothing when it did not move', () => {
    expect(insertFailedReading('host', { insert_failed: 0, drop: 5 }, COLUMNS_6X, assessKernel(fromUname('6.18.0')))).toBeNull();
  });

  it('on a current kernel: TCP means the port race, UDP a clash resolution does not cover; next steps named', () => {
    const r = insertFailedReading('rtr', { insert_failed: 4, drop: 4 }, COLUMNS_6X, assessKernel(fromUname('6.18.0'))) ?? '';
    expect(r).toMatch(/^! rtr: insert_failed \+4: unresolved clashes only; TCP has no clash resolution, so a TCP one is the SNAT port race/);
    expect(r).toMatch(/a UDP one is a case its clash resolution does not cover/);
    expect(r).toMatch(/Next: repro audit --netns rtr; repro tcp-syn --load burst/);
  });

  it('names the chain-too-long share and a full table, which are not the race', () => {
    const r = insertFailedReading('host', { insert_failed: 5, chainlength: 2, early_drop: 7 }, COLUMNS_6X, assessKernel(fromUname('6.18.0'))) ?? '';
    expect(r).toMatch(/2 of them from hash chains over 64 entries/);
    expect(r).toMatch(/early_drop \+7: the table is full/);
    expect(r).toMatch(/Next: repro audit;/);
  });

  it('on an old kernel: no clashres column, and the DNS fixes it lacks', () => {
    const r = insertFailedReading('pid:9', { insert_failed: 1 }, ['entries', 'searched', 'insert_failed', 'drop'], assessKernel(fromUname('4.14.0'))) ?? '';
    expect(r).toMatch(/no clashres column: this count may include clashes the kernel resolved/);
    expect(r).toMatch(/a UDP one is the DNS A\/AAAA race, which this kernel does not fully resolve \(lacks/);
    expect(r).toMatch(/repro audit --pid 9/);
  });
});
