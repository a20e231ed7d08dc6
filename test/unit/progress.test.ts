import { describe, expect, it } from 'vitest';
import { ProgressPrinter, bar, progressText } from '../../src/commands/progress.js';
import type { ScenarioProgress } from '../../src/runner/hooks.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const stream = { isTTY, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out };
}

const p = (over: Partial<ScenarioProgress>): ScenarioProgress => ({
  mode: 'none', index: 0, total: 2, attempts: 0, target: 10_000, stalls: 0, failed: 0, elapsedMs: 0, ...over,
});

describe('progress', () => {
  it('draws a bar with attempts, rate and stalls', () => {
    expect(bar(0.5, 10)).toBe('[█████░░░░░]');
    expect(bar(2, 4)).toBe('[████]');
    expect(progressText(p({ attempts: 5000, elapsedMs: 2000, stalls: 1 }))).toBe(
      '  [1/2] none         [████████████░░░░░░░░░░░░]  50%  5,000/10,000 attempts  2,500/s  stalls 1  failed 0  2 s',
    );
  });
  it('on a TTY redraws one bar per mode in place and keeps finished modes', () => {
    const f = fakeStream(true);
    const pr = new ProgressPrinter(f.stream);
    pr.progress(p({ attempts: 100, elapsedMs: 100 }));
    pr.progress(p({ attempts: 10_000, elapsedMs: 2000 }));
    pr.progress(p({ mode: 'random-fully', index: 1, attempts: 50, elapsedMs: 100 }));
    pr.endLine();
    const lines = f.text().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('\r\x1b[2K');
    expect(lines[0]?.split('\r\x1b[2K').pop()).toContain('100%  10,000/10,000');
    expect(lines[1]).toContain('random-fully');
  });
  it('without a TTY prints plain lines every 5 s and the last one, no bar', () => {
    const f = fakeStream(false);
    const pr = new ProgressPrinter(f.stream);
    for (let t = 0; t <= 12_000; t += 500) pr.progress(p({ attempts: Math.min(10_000, t), elapsedMs: t }));
    pr.progress(p({ attempts: 10_000, elapsedMs: 12_500 }));
    const lines = f.text().trim().split('\n');
    expect(lines.map((l) => / (\d+) s$/.exec(l)?.[1])).toEqual(['0', '5', '10']);
    expect(f.text()).not.toContain('█');
    expect(f.text()).not.toContain('\r');
  });
});
