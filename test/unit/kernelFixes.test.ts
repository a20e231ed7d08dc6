import { describe, expect, it } from 'vitest';
import { assessKernel, compareVersions, KNOWN_FIXES, parseVersion, type FixStatus } from '../../src/analysis/kernelFixes.js';
import { synScheduleFromSysctls } from '../../src/analysis/synSchedule.js';
import { KERNEL_FIX_SOURCES, RELEASE_DATES, type Excerpt } from './fixtures/kernelFixSources.js';
import { fromUname } from './fixtures/distroKernels.js';

const status = (version: string, id: string): FixStatus | undefined => assessKernel(fromUname(version)).find((f) => f.id === id)?.status;

describe('known kernel fixes by version', () => {
  it('parses release strings', () => {
    expect(parseVersion('5.10.0-28-amd64')).toEqual([5, 10, 0]);
    expect(parseVersion('6.18')).toEqual([6, 18, 0]);
    expect(parseVersion('x')).toBeNull();
  });
  it('a current kernel carries every known change', () => {
    expect(assessKernel(fromUname('6.18.44')).every((f) => f.status === 'present')).toBe(true);
  });
  it('stable backports count from their release', () => {
    expect(status('4.19.228', 'port-search-random')).toBe('present');
    expect(status('4.19.100', 'port-search-random')).toBe('absent');
    expect(status('4.9.300', 'port-search-random')).toBe('present');
    expect(status('4.14.265', 'port-search-random')).toBe('present');
    expect(status('4.14.264', 'port-search-random')).toBe('absent');
    expect(status('4.14.181', 'udp-zero-checksum')).toBe('present');
    expect(status('4.14.180', 'udp-zero-checksum')).toBe('absent');
    expect(status('4.19.29', 'udp-clash-same-origin')).toBe('present');
    expect(assessKernel(fromUname('4.19.29')).find((f) => f.id === 'udp-clash-same-origin')?.basis).toContain('secondary source');
  });
  it('releases the sources pin down are no longer "~"', () => {
    expect(status('5.0.21', 'port-search-random')).toBe('present');
    expect(status('4.20.17', 'port-search-random')).toBe('absent');
    expect(status('5.9.3', 'clashres-counter')).toBe('absent');
    expect(status('5.10.0', 'clashres-counter')).toBe('present');
    expect(status('6.5.0', 'evict-closing-tcp')).toBe('present');
    expect(status('6.4.16', 'syn-linear-timeouts')).toBe('absent');
    expect(status('6.5.0', 'syn-linear-timeouts')).toBe('present');
  });
  it('old kernels lack the changes, and say what that means', () => {
    const old = assessKernel(fromUname('3.10.0-1160.el7'));
    expect(old.every((f) => f.status === 'absent')).toBe(true);
    expect(old.find((f) => f.id === 'port-search-random')?.meaning).toContain('frequent');
    expect(assessKernel(fromUname('garbage')).every((f) => f.status === 'unknown')).toBe(true);
  });
});

/** The release a change applied on `date` to a fixes or a next tree lands in, from the release dates. */
function releaseOf(tree: 'fixes' | 'next', date: string): string {
  const releases = Object.entries(RELEASE_DATES).sort(([, a], [, b]) => a.localeCompare(b));
  const after = releases.filter(([, d]) => d > date);
  const first = after[0]?.[0] ?? '?';
  if (tree === 'fixes') return first;
  // net-next material goes in the merge window: the one still open (two weeks after a release), else the next.
  const last = releases.filter(([, d]) => d <= date).at(-1);
  const inWindow = last !== undefined && (Date.parse(date) - Date.parse(last[1])) / 86_400_000 <= 14;
  return inWindow ? first : after[1]?.[0] ?? '?';
}

const texts = (xs: readonly Excerpt[]): string => xs.map((x) => x.text).join('\n');

describe('the table against its cited sources (test/unit/fixtures/kernelFixSources.ts)', () => {
  it('every row has sources, and a fixture excerpt for each', () => {
    for (const f of KNOWN_FIXES) {
      expect(f.sources.length, f.id).toBeGreaterThan(0);
      expect(KERNEL_FIX_SOURCES[f.id], f.id).toBeDefined();
    }
  });

  it("every row's commit ids appear in its sources", () => {
    for (const f of KNOWN_FIXES) {
      const text = texts(KERNEL_FIX_SOURCES[f.id]?.excerpts ?? []);
      expect(f.commits.length, f.id).toBeGreaterThan(0);
      for (const c of f.commits) {
        expect(c, f.id).toMatch(/^[0-9a-f]{12,40}$/);
        expect(text, `${f.id}: ${c}`).toContain(c);
        expect(f.change + f.sources.join(' '), `${f.id} names ${c}`).toContain(c);
      }
    }
  });

  it("every row's mainline release is the one its sources state, or the one the tree and date imply", () => {
    for (const f of KNOWN_FIXES) {
      const m = KERNEL_FIX_SOURCES[f.id]?.mainline;
      expect(f.presentFrom, f.id).toBe(m?.release);
      expect(f.uncertainFrom, f.id).toBeUndefined();
      if (m?.how === 'applied') {
        expect(m.tree && m.date, f.id).toBeTruthy();
        expect(releaseOf(m.tree ?? 'fixes', m.date ?? ''), f.id).toBe(m.release);
      }
    }
  });

  it('every stable backport is a stable review patch of that series replying to the cover of that release', () => {
    for (const f of KNOWN_FIXES) {
      const xs = KERNEL_FIX_SOURCES[f.id]?.excerpts ?? [];
      for (const b of f.backports) {
        if (b.from === null) continue;
        if (b.source.startsWith('secondary:')) {
          expect(texts(xs), `${f.id} ${b.from}`).toContain(`${b.from}+`);
          continue;
        }
        const patch = xs.find((x) => x.text.includes(`Subject: [PATCH ${b.series} `) && !/ 0+\/\d+\]/.test(x.text.split('\n')[0] ?? ''));
        expect(patch, `${f.id} ${b.series}`).toBeDefined();
        const upstream = f.commits.some((c) => patch?.text.includes(`commit ${c}`));
        expect(upstream, `${f.id} ${b.series}: names an upstream commit of the row`).toBe(true);
        const parent = /In-Reply-To: (<[^>]+>)/.exec(patch?.text ?? '')?.[1];
        const cover = xs.find((x) => parent !== undefined && x.text.includes(`Message-Id: ${parent}`));
        expect(cover?.text, `${f.id} ${b.series}`).toMatch(new RegExp(`\\[PATCH ${b.series.replace('.', '\\.')} 0+/\\d+\\] ${b.from.replace(/\./g, '\\.')}-rc1 review`));
        expect(b.source).toContain(patch?.source ?? '-');
        expect(compareVersions(parseVersion(b.from) ?? [0, 0, 0], parseVersion(f.presentFrom) ?? [0, 0, 0])).toBeLessThan(0);
      }
    }
  });

  it('the port search is bounded at 248 attempts in shrinking rounds, not "128 tries"', () => {
    const row = KNOWN_FIXES.find((f) => f.id === 'port-search-random');
    expect(texts(KERNEL_FIX_SOURCES['port-search-random']?.excerpts ?? [])).toContain('at most 248 attempts (128 + 64 + 32 + 16 + 8');
    expect(row?.change).toContain('248 attempts');
    expect(row?.change).toContain('128, 64, 32, 16 and 8');
    expect(row?.change).not.toMatch(/128 tries/);
  });

  it('before the clashres counter, insert_failed also counts resolved clashes (why race drops are min(insert_failed, drop))', () => {
    const text = texts(KERNEL_FIX_SOURCES['clashres-counter']?.excerpts ?? []);
    expect(text).toContain("The 'insert_failed' stats still accounts for this situation");
    expect(text).toContain('the drop counter is bumped whenever we drop packets');
    expect(KNOWN_FIXES.find((f) => f.id === 'clashres-counter')?.ifAbsent).toContain('min(insert_failed, drop)');
  });

  it('the linear SYN timeouts row drives the schedule: 67 s to the last retransmit, 131 s to give up (ip-sysctl.rst)', () => {
    const text = texts(KERNEL_FIX_SOURCES['syn-linear-timeouts']?.excerpts ?? []);
    const last = Number(/corresponds to (\d+)seconds \(with tcp_syn_linear_timeouts = 4\)/.exec(text)?.[1]);
    const giveUp = Number(/will happen after (\d+)seconds/.exec(text)?.[1]);
    const s = synScheduleFromSysctls({ tcp_syn_linear_timeouts: 4, tcp_syn_retries: 6 });
    expect(s.completionMs.at(-1)).toBe(last * 1000);
    expect(s.giveUpMs).toBe(giveUp * 1000);
  });
});
