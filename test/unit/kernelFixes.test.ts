import { describe, expect, it } from 'vitest';
import { assessKernel, parseVersion, type FixStatus } from '../../src/analysis/kernelFixes.js';

const status = (version: string, id: string): FixStatus | undefined => assessKernel(version).find((f) => f.id === id)?.status;

describe('known kernel fixes by version', () => {
  it('parses release strings', () => {
    expect(parseVersion('5.10.0-28-amd64')).toEqual([5, 10, 0]);
    expect(parseVersion('6.18')).toEqual([6, 18, 0]);
    expect(parseVersion('x')).toBeNull();
  });
  it('a current kernel carries every known change', () => {
    expect(assessKernel('6.18.44').every((f) => f.status === 'present')).toBe(true);
  });
  it('stable backports count from their release', () => {
    expect(status('4.19.228', 'port-search-random')).toBe('present');
    expect(status('4.19.100', 'port-search-random')).toBe('absent');
    expect(status('4.9.300', 'port-search-random')).toBe('present');
    expect(status('4.14.181', 'udp-zero-checksum')).toBe('present');
    expect(status('4.14.180', 'udp-zero-checksum')).toBe('absent');
  });
  it('versions the design marks "~" are uncertain', () => {
    expect(status('4.14.300', 'port-search-random')).toBe('uncertain');
    expect(status('5.0.21', 'port-search-random')).toBe('uncertain');
    expect(status('5.9.3', 'clashres-counter')).toBe('uncertain');
    expect(status('5.4.0', 'clashres-counter')).toBe('absent');
    expect(status('6.5.0', 'evict-closing-tcp')).toBe('uncertain');
  });
  it('old kernels lack the changes, and say what that means', () => {
    const old = assessKernel('3.10.0-1160.el7');
    expect(old.every((f) => f.status === 'absent')).toBe(true);
    expect(old.find((f) => f.id === 'port-search-random')?.meaning).toContain('frequent');
    expect(assessKernel('garbage').every((f) => f.status === 'uncertain')).toBe(true);
  });
});
