import { describe, expect, it } from 'vitest';
import { renderChecks } from '../../src/commands/doctor.js';

describe('repro doctor output', () => {
  it('puts every detail in one column, however long a check name, and a fix under each failure', () => {
    const text = renderChecks([
      { name: 'root', ok: true, detail: 'running as root', fix: '' },
      { name: 'connect engine (optional)', ok: true, detail: 'native', fix: '' },
      { name: 'conntrack', ok: false, detail: 'not found', fix: 'apt-get install conntrack' },
    ]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    const columns = lines.filter((l) => !l.startsWith(' ')).map((l, i) => l.indexOf(['running as root', 'native', 'not found'][i] ?? '?'));
    expect(new Set(columns).size).toBe(1);
    expect(lines[0]).toMatch(/^ok\s+root\s+running as root$/);
    expect(lines[2]).toMatch(/^FAIL\s+conntrack\s+not found$/);
    expect(lines[3]).toBe('      fix: apt-get install conntrack');
  });
});
