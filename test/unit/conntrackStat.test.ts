import { describe, expect, it } from 'vitest';
import { conntrackDelta, parseConntrackStat } from '../../src/host/conntrackStat.js';

// Kernel 6.x layout (nf_conntrack_standalone.c): note the double spaces the kernel prints.
const HEADER_6X =
  'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart';

//                 entries   clashres found    new      invalid  ignore   delete   chainlen insert   ins_fail drop     e_drop   icmp_err  exp_new  exp_cre  exp_del  s_restart
const BEFORE_6X = [
  HEADER_6X,
  '0000002a  00000003 00000000 00000000 00000010 00000000 00000000 00000000 00000000 00000005 00000005 00000000 00000001  00000000 00000000 00000000 00000002',
  '0000002a  00000001 00000000 00000000 0000000a 00000000 00000000 00000000 00000000 fffffffe fffffffe 00000000 00000000  00000000 00000000 00000000 00000007',
  '',
].join('\n');

const AFTER_6X = [
  HEADER_6X,
  '00000030  00000004 00000000 00000000 00000012 00000000 00000000 00000000 00000000 00000007 00000008 00000000 00000001  00000000 00000000 00000000 00000002',
  '00000030  00000001 00000000 00000000 0000000a 00000000 00000000 00000000 00000000 00000001 00000003 00000000 00000000  00000000 00000000 00000000 00000007',
  '',
].join('\n');

// Kernel 4.x layout: no clashres, has searched and delete_list.
const HEADER_4X =
  'entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart';
const SAMPLE_4X = [
  HEADER_4X,
  '000000c8  00000000 00001f40 00000000 00000003 00000102 00000000 00000000 00000000 00000009 0000000b 00000000 00000000  00000000 00000000 00000000 00000000',
  '000000c8  00000000 00000020 00000000 00000000 00000011 00000000 00000000 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000004',
  '',
].join('\n');

describe('parseConntrackStat', () => {
  it('parses a kernel 6.x table by header name, one row per CPU', () => {
    const s = parseConntrackStat(BEFORE_6X);
    expect(s.columns).toHaveLength(17);
    expect(s.columns[0]).toBe('entries');
    expect(s.columns[1]).toBe('clashres');
    expect(s.columns).toContain('insert_failed');
    expect(s.rows).toHaveLength(2);
    expect(s.rows[0]).toMatchObject({ entries: 42, clashres: 3, invalid: 16, insert_failed: 5, drop: 5, icmp_error: 1, search_restart: 2 });
    expect(s.rows[1]).toMatchObject({ entries: 42, clashres: 1, invalid: 10, insert_failed: 0xfffffffe, drop: 4294967294, search_restart: 7 });
  });

  it('parses an older 4.x table without clashres', () => {
    const s = parseConntrackStat(SAMPLE_4X);
    expect(s.columns).toHaveLength(17);
    expect(s.columns).not.toContain('clashres');
    expect(s.columns).toContain('searched');
    expect(s.columns).toContain('delete_list');
    expect(s.rows).toHaveLength(2);
    expect(s.rows[0]).toMatchObject({ entries: 200, found: 8000, invalid: 3, ignore: 258, insert_failed: 9, drop: 11 });
    expect(s.rows[1]).toMatchObject({ found: 32, ignore: 17, insert_failed: 1, drop: 1, search_restart: 4 });
  });

  it('accepts upper-case hex digits and a header with no rows', () => {
    const s = parseConntrackStat('entries insert_failed\n0000000A 000000FF\n');
    expect(s.rows).toEqual([{ entries: 10, insert_failed: 255 }]);
    expect(parseConntrackStat('entries drop\n')).toEqual({ columns: ['entries', 'drop'], rows: [] });
  });

  it('throws on empty input', () => {
    expect(() => parseConntrackStat('')).toThrow(/empty/);
    expect(() => parseConntrackStat('  \n \n')).toThrow(/empty/);
  });

  it('throws on a header that is not column names', () => {
    expect(() => parseConntrackStat('00000001 00000002\n00000001 00000002\n')).toThrow(/unexpected header/);
    expect(() => parseConntrackStat('entries Drop\n1 2\n')).toThrow(/unexpected header/);
  });

  it('throws on a row whose cell count differs from the header', () => {
    expect(() => parseConntrackStat('entries drop insert_failed\n00000001 00000002\n')).toThrow(/row 1 has 2 cells, header has 3/);
    expect(() => parseConntrackStat('entries drop\n1 2\n1 2 3\n')).toThrow(/row 2 has 3 cells/);
  });

  it('throws on a cell that is not hex', () => {
    expect(() => parseConntrackStat('entries drop\n00000001 0000000g\n')).toThrow(/"0000000g" is not hex/);
    expect(() => parseConntrackStat('entries drop\n00000001 -1\n')).toThrow(/not hex/);
  });
});

describe('conntrackDelta', () => {
  it('sums per-CPU differences, wraps each u32 row, and treats entries as a gauge', () => {
    const d = conntrackDelta(parseConntrackStat(BEFORE_6X), parseConntrackStat(AFTER_6X));
    // entries: 42 -> 48 on every row; the gauge moves by 6, not 12.
    expect(d['entries']).toBe(6);
    // clashres: cpu0 3->4, cpu1 1->1.
    expect(d['clashres']).toBe(1);
    // invalid: cpu0 16->18, cpu1 10->10.
    expect(d['invalid']).toBe(2);
    // insert_failed: cpu0 5->7 (+2), cpu1 0xfffffffe -> 1 wraps (+3).
    expect(d['insert_failed']).toBe(5);
    // drop: cpu0 5->8 (+3), cpu1 0xfffffffe -> 3 wraps (+5).
    expect(d['drop']).toBe(8);
    expect(d['search_restart']).toBe(0);
    expect(d['early_drop']).toBe(0);
    expect(Object.keys(d).sort()).toEqual(parseConntrackStat(AFTER_6X).columns.slice().sort());
  });

  it('reports a falling gauge as negative but never a falling counter', () => {
    const before = parseConntrackStat('entries drop\n00000010 ffffffff\n00000010 00000000\n');
    const after = parseConntrackStat('entries drop\n0000000c 00000000\n0000000c 00000000\n');
    expect(conntrackDelta(before, after)).toEqual({ entries: -4, drop: 1 });
  });

  it('skips columns present on only one side', () => {
    const d = conntrackDelta(parseConntrackStat(SAMPLE_4X), parseConntrackStat(AFTER_6X));
    expect(d).not.toHaveProperty('clashres');
    expect(d).not.toHaveProperty('chainlength');
    expect(d).not.toHaveProperty('searched');
    expect(d).not.toHaveProperty('delete_list');
    // insert_failed: cpu0 9 -> 7 wraps (2^32 - 2), cpu1 1 -> 1.
    expect(d['insert_failed']).toBe(2 ** 32 - 2);
    expect(d['entries']).toBe(48 - 200);
  });

  it('is all zeros for identical samples', () => {
    const s = parseConntrackStat(AFTER_6X);
    const d = conntrackDelta(s, s);
    expect(Object.values(d).every((v) => v === 0)).toBe(true);
    expect(Object.keys(d)).toHaveLength(17);
  });
});
