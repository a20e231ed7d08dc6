import { describe, expect, it } from 'vitest';
import { assessKernel } from '../../src/analysis/kernelFixes.js';
import { insertFailedReading, parseListenAddress, watchLine } from '../../src/node/watch/watch.js';

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
  it('gives each counter its delta and its rate, and the table fill', () => {
    const at = new Date(2026, 0, 2, 3, 4, 5);
    expect(watchLine(at, 'host', { insert_failed: 3, drop: 4, clashres: 0, early_drop: 0, found: 9 }, 2, 120, 262144, 'procfs')).toBe(
      '03:04:05  host  insert_failed +3 (1.5/s)  drop +4 (2.0/s)  clashres +0 (0.0/s)  early_drop +0 (0.0/s)  entries 120/262144  (procfs)',
    );
  });
  it('leaves out counters the kernel does not have', () => {
    const line = watchLine(new Date(0), 'pid:7', { insert_failed: 0, drop: 0 }, 1, null, null, 'netlink');
    expect(line).toMatch(/pid:7  insert_failed \+0 \(0\.0\/s\)  drop \+0 \(0\.0\/s\)  entries \?\/\?  \(netlink\)$/);
    expect(line).not.toMatch(/clashres/);
  });
});

describe('the reading when insert_failed moves', () => {
  it('nothing when it did not move', () => {
    expect(insertFailedReading('host', { insert_failed: 0, drop: 5 }, COLUMNS_6X, assessKernel('6.18.0'))).toBeNull();
  });

  it('on a current kernel: TCP means the port race, UDP a clash resolution does not cover; next steps named', () => {
    const r = insertFailedReading('rtr', { insert_failed: 4, drop: 4 }, COLUMNS_6X, assessKernel('6.18.0')) ?? '';
    expect(r).toMatch(/^! rtr: insert_failed \+4: unresolved clashes only; TCP has no clash resolution, so a TCP one is the SNAT port race/);
    expect(r).toMatch(/a UDP one is a case its clash resolution does not cover/);
    expect(r).toMatch(/Next: repro audit --netns rtr; repro tcp-syn --load burst/);
  });

  it('names the chain-too-long share and a full table, which are not the race', () => {
    const r = insertFailedReading('host', { insert_failed: 5, chainlength: 2, early_drop: 7 }, COLUMNS_6X, assessKernel('6.18.0')) ?? '';
    expect(r).toMatch(/2 of them from hash chains over 64 entries/);
    expect(r).toMatch(/early_drop \+7: the table is full/);
    expect(r).toMatch(/Next: repro audit;/);
  });

  it('on an old kernel: no clashres column, and the DNS fixes it lacks', () => {
    const r = insertFailedReading('pid:9', { insert_failed: 1 }, ['entries', 'searched', 'insert_failed', 'drop'], assessKernel('4.14.0')) ?? '';
    expect(r).toMatch(/no clashres column: this count may include clashes the kernel resolved/);
    expect(r).toMatch(/a UDP one is the DNS A\/AAAA race, which this kernel does not fully resolve \(lacks/);
    expect(r).toMatch(/repro audit --pid 9/);
  });
});
