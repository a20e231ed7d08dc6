import { describe, expect, it } from 'vitest';
import { renderTable } from '../../src/report/table.js';

describe('renderTable', () => {
  it('left-aligns the first column, right-aligns the rest, two spaces between', () => {
    const out = renderTable(['', 'a', 'bb'], [['x', '1', '22'], ['longer', '333', '4']]);
    expect(out.split('\n')).toEqual([
      '          a  bb',
      '──────  ───  ──',
      'x         1  22',
      'longer  333   4',
    ]);
  });

  it('sizes columns by the widest cell, header included', () => {
    const out = renderTable(['figure', 'random-fully'], [['p99', '1.00 s']]);
    expect(out.split('\n')).toEqual(['figure  random-fully', '──────  ────────────', 'p99           1.00 s']);
  });

  it('drops trailing spaces when the last cells are empty', () => {
    const out = renderTable(['name', 'x'], [['a', '']]);
    expect(out.split('\n')[2]).toBe('a');
  });

  it('treats missing cells as empty', () => {
    const out = renderTable(['k', 'v1', 'v2'], [['key', '10']]);
    expect(out.split('\n')[2]).toBe('key  10');
  });

  it('renders a header only', () => {
    expect(renderTable(['a', 'b'], [])).toBe('a  b\n─  ─');
  });
});
