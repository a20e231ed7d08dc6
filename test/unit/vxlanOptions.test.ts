import { describe, expect, it } from 'vitest';
import { parseVxlanMode, parseVxlanModes, validateVxlanArgs, VXLAN_DEFAULTS } from '../../src/scenarios/vxlan/options.js';
import { UserError } from '../../src/errors.js';

describe('vxlan modes', () => {
  it('reads rules, flag and offload in any order of the modifiers, with canonical names', () => {
    expect(parseVxlanMode('legacy')).toEqual({ name: 'legacy', rules: 'legacy', flag: 'random-fully', offloadOff: false });
    expect(parseVxlanMode('patched+offload-off+none')).toEqual({ name: 'patched+none+offload-off', rules: 'patched', flag: 'none', offloadOff: true });
    expect(parseVxlanMode('legacy+random-fully').name).toBe('legacy');
  });

  it('refuses unknown or repeated parts and duplicates, in one line', () => {
    expect(() => parseVxlanMode('modern')).toThrow(/unknown mode "modern"/);
    expect(() => parseVxlanMode('legacy+turbo')).toThrow(/unknown or repeated part "turbo"/);
    expect(() => parseVxlanMode('legacy+none+random')).toThrow(/repeated part "random"/);
    expect(() => parseVxlanModes('legacy,legacy+random-fully')).toThrow(/listed twice \(as legacy\)/);
    expect(() => parseVxlanModes(' , ')).toThrow(UserError);
  });

  it('defaults to legacy and patched', () => {
    expect(parseVxlanModes(VXLAN_DEFAULTS.modes).map((m) => m.name)).toEqual(['legacy', 'patched']);
  });
});

describe('validateVxlanArgs', () => {
  const ok = { ...VXLAN_DEFAULTS };

  it('maps the flags to options', () => {
    const o = validateVxlanArgs(ok);
    expect(o.connectTimeoutMs).toBe(70_000);
    expect(o.durationSec).toBe(20);
    expect(o.vxlanPort).toBe(8472);
  });

  it('refuses out-of-range numbers naming the flag', () => {
    expect(() => validateVxlanArgs({ ...ok, connections: 0 })).toThrow(/--connections/);
    expect(() => validateVxlanArgs({ ...ok, 'vxlan-port': 70000 })).toThrow(/--vxlan-port/);
    expect(() => validateVxlanArgs({ ...ok, workers: 1.5 })).toThrow(/--workers/);
    expect(() => validateVxlanArgs({ ...ok, workers: 32, concurrency: 1000 })).toThrow(/in flight/);
  });
});
