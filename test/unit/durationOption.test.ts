import { describe, expect, it } from 'vitest';
import { durationOption, parseDuration } from '../../src/scenarios/shared/durationOption.js';

describe('durations as people write them', () => {
  it('reads ms, s, m, h and keeps the unit of a bare number', () => {
    expect(parseDuration('30s', 's')).toBe(30);
    expect(parseDuration('2m', 's')).toBe(120);
    expect(parseDuration('1h', 's')).toBe(3600);
    expect(parseDuration('500ms', 's')).toBe(0.5);
    expect(parseDuration('8s', 'ms')).toBe(8000);
    expect(parseDuration('0.3s', 'ms')).toBe(300);
    expect(parseDuration('1.5', 's')).toBe(1.5);
    expect(parseDuration('8000', 'ms')).toBe(8000);
    expect(parseDuration(15, 's')).toBe(15);
  });
  it.each(['abc', '', '10 sec', '-1s', '1e3', '5d', 's', '1s2'])('%j is no duration', (t) => {
    expect(parseDuration(t, 's')).toBeNull();
  });
  it('quotes what was typed, never NaN', () => {
    expect(() => durationOption('interval', 'abc', 's', 0.1, 3600, false)).toThrow(/^--interval "abc": give a duration such as 30s, 500ms or 2m \(a bare number is seconds\), seconds from 0\.1 s to 3600 s$/);
    expect(() => durationOption('duration', '500ms', 's', 1, 86_400)).toThrow(/^--duration "500ms": .*whole seconds from 1 s to 86400 s$/);
    expect(() => durationOption('connect-timeout', '10m', 'ms', 100, 300_000)).toThrow(/^--connect-timeout "10m": .*milliseconds from 100 ms to 300 s$/);
    expect(() => durationOption('duration', NaN, 's', 1, 10)).toThrow(/"NaN"/);
    expect(durationOption('connect-timeout', '8s', 'ms', 100, 300_000)).toBe(8000);
  });
});
