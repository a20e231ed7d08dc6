import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { capabilityGate } from './capabilities.js';
import { hostSnapshot } from './hostSnapshot.js';
import { runCli } from './cli.js';

const gate = capabilityGate();

/** Everything on this host a name could be: namespaces, links, iptables, Docker's containers and networks. */
function hostText(): string {
  const docker = (args: string[]): string => {
    const r = spawnSync('docker', args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout : '';
  };
  return [
    execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }),
    execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }),
    execFileSync('iptables-save', [], { encoding: 'utf8' }),
    docker(['ps', '-a', '--format', '{{.Names}}']),
    docker(['network', 'ls', '--format', '{{.Name}}']),
  ].join('\n');
}

/**
 * A host snapshot without the objects of other runs (other processes on this host start and end theirs
 * meanwhile): every line or entry that names a run id other than `id`. The dry-run's own id is kept, so that
 * anything it made would show.
 */
function withoutOtherRuns(snapshot: unknown, id: string): unknown {
  const other = (text: string): boolean => [...text.matchAll(/(?:repro-|rp|REPRO-[A-Z]+-|repro:)([0-9a-f]{6})/g)].some((m) => m[1] !== id);
  const clean = (v: unknown): unknown => {
    if (typeof v === 'string') return v.split('\n').filter((l) => !other(l)).join('\n');
    if (Array.isArray(v)) return v.filter((x) => typeof x !== 'string' || !other(x)).map(clean);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clean(x)]));
    return v;
  };
  // The run lock comes and goes with other runs; one a dry-run took would be gone by its exit anyway.
  const c = clean(snapshot) as { stateFiles?: string[] };
  return { ...c, stateFiles: (c.stateFiles ?? []).filter((f) => f !== 'lock') };
}

/** The run id of a listing, and every name in it that carries the id. */
function namesOf(listing: string): { id: string; names: string[] } {
  const id = /its run id is drawn when it starts; ([0-9a-f]{6}) here/.exec(listing)?.[1] ?? '';
  expect(id, listing).toMatch(/^[0-9a-f]{6}$/);
  const names = [...listing.matchAll(new RegExp(`\\b(?:repro-${id}-[a-z0-9]+|rp${id}-[a-z0-9]+|REPRO-[A-Z]+-${id})\\b`, 'g'))].map((m) => m[0]);
  return { id, names: [...new Set(names)].sort() };
}

describe.skipIf(gate.skip)(`--dry-run${gate.skip ? ` — skipped: ${gate.reason}` : ''}`, () => {
  it('lists what a run would create, by its names, and creates none of it: the host is byte-identical', async () => {
    const cases: { args: string[]; want: (id: string) => string[] }[] = [
      {
        // Durations as written reach the run's validation.
        args: ['tcp-syn', '--backend', 'netns', '--clients', '2', '--duration', '2m', '--connect-timeout', '8s', '--dry-run'],
        want: (id) => [`repro-${id}-rtr`, `repro-${id}-c0`, `repro-${id}-c1`, `repro-${id}-srv`, `rp${id}-br`, `rp${id}-sv`, `rp${id}-c0`, `rp${id}-c1`, `REPRO-NAT-${id}`, `REPRO-FWD-${id}`],
      },
      {
        args: ['dns', '--backend', 'netns', '--clients', '3', '--modes', 'none,notrack', '--dry-run'],
        want: (id) => [`repro-${id}-rtr`, `repro-${id}-c2`, `REPRO-SVC-${id}`, `REPRO-SEPC-${id}`, `REPRO-NOTRACK-${id}`],
      },
      { args: ['vxlan', '--dry-run'], want: (id) => [`repro-${id}-nodea`, `repro-${id}-nodeb`, `repro-${id}-poda`, `repro-${id}-podb`] },
    ];
    if (spawnSync('docker', ['version'], { encoding: 'utf8' }).status === 0) {
      cases.push({
        args: ['tcp-syn', '--backend', 'docker', '--clients', '2', '--dry-run'],
        want: (id) => [`repro-${id}-clients`, `repro-${id}-server`, `repro-${id}-c0`, `repro-${id}-c1`, `repro-${id}-srv`, `rp${id}-cbr`, `rp${id}-sbr`, `REPRO-NAT-${id}`],
      });
    }
    for (const c of cases) {
      const before = hostSnapshot();
      const r = await runCli(c.args);
      const after = hostSnapshot();
      expect(r.code, `${c.args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      const { id, names } = namesOf(r.stdout);
      for (const n of c.want(id)) expect(names, `${c.args.join(' ')} lists ${n}`).toContain(n);
      // --clients 2 is two clients, not the default four.
      if (c.args.includes('--clients')) expect(names).not.toContain(`repro-${id}-c${c.args[c.args.indexOf('--clients') + 1]}`);
      const host = hostText();
      for (const n of names) expect(host, `${n} exists`).not.toContain(n);
      expect(withoutOtherRuns(after, id), c.args.join(' ')).toEqual(withoutOtherRuns(before, id));
    }
  }, 120_000);

  it('validates as a run does: a bad option is exit 2 before any listing', async () => {
    const r = await runCli(['tcp-syn', '--dry-run', '--clients', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^repro: --clients must be a whole number from 1 to 64, got 0\n$/);
  });
});
