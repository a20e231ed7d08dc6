import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_RUN_COMMANDS } from '../../src/host/prerequisites.js';
import { underCi } from '../ci.js';

const README = readFileSync(path.join(import.meta.dirname, '../../README.md'), 'utf8');

/** The packages of every `apt-get install` line in the README's shell blocks (flags dropped, up to a `&&`). */
function aptLines(text: string): string[][] {
  const out: string[][] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of (block[1] ?? '').split('\n')) {
      const m = /apt-get install\s+(.*?)(?:&&|$)/.exec(line);
      if (m) out.push((m[1] ?? '').split(/\s+/).filter((w) => w !== '' && !w.startsWith('-')));
    }
  }
  return out;
}

describe("the README's install lines", () => {
  it('are found (users and developers)', () => {
    expect(aptLines(README).length).toBeGreaterThanOrEqual(2);
  });

  it('name the Debian package of every command the default run checks for', () => {
    const needed = [...new Set(DEFAULT_RUN_COMMANDS.map((c) => c.debianPackage))];
    expect(needed).toContain('tcpdump');
    for (const line of aptLines(README)) {
      expect(needed.filter((p) => !line.includes(p)), `apt-get install ${line.join(' ')}`).toEqual([]);
    }
  });

  // The table's package names against dpkg's own record of who installed each command (where this host has both).
  it("name the packages dpkg says own the commands", (ctx) => {
    const dpkg = spawnSync('dpkg-query', ['--version']);
    if (dpkg.error) {
      // .ci/run is Debian: there a missing dpkg-query is a broken image, not a reason to skip.
      expect(underCi(), 'dpkg-query not found under CI').toBe(false);
      ctx.skip('no dpkg-query here (not a Debian host): the package names are checked against the README only');
    }
    let checked = 0;
    for (const c of DEFAULT_RUN_COMMANDS) {
      const where = spawnSync('sh', ['-c', `command -v ${c.command}`], { encoding: 'utf8' }).stdout.trim();
      if (where === '') continue;
      // usrmerge: dpkg records /bin/ip or /usr/sbin/xtables-nft-multi (behind an alternatives link), not always the PATH entry.
      const candidates = [where, realpathSync(where), ...['/bin', '/sbin', '/usr/bin', '/usr/sbin'].map((d) => `${d}/${c.command}`)];
      const owner = candidates
        .map((p) => spawnSync('dpkg-query', ['-S', p], { encoding: 'utf8' }))
        .find((r) => r.status === 0)?.stdout.split(':')[0];
      if (owner === undefined) continue;
      expect(owner, c.command).toBe(c.debianPackage);
      checked++;
    }
    if (underCi()) expect(checked).toBe(DEFAULT_RUN_COMMANDS.length);
  });
});
