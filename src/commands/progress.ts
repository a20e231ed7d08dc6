import type { ScenarioProgress } from '../runner/hooks.js';

/** Width of the progress bar in characters. */
const BAR = 24;
/** Plain (non-TTY) progress: one line per mode at most this often, plus the mode's last one. */
const PLAIN_INTERVAL_MS = 5000;

/** "[██████░░░░]" for a fraction in [0, 1]. */
export function bar(fraction: number, width = BAR): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

/** One progress line: mode, bar, percent, attempts, rate, stalls and failures so far, elapsed time. */
export function progressText(p: ScenarioProgress, noun = 'attempts', withBar = true): string {
  const rate = p.elapsedMs > 0 ? Math.round((p.attempts / p.elapsedMs) * 1000) : 0;
  const frac = p.target > 0 ? p.attempts / p.target : 0;
  const n = (x: number): string => x.toLocaleString('en-US');
  return [
    `  [${p.index + 1}/${p.total}] ${p.mode.padEnd(12)}`,
    withBar ? ` ${bar(frac)}` : '',
    ` ${String(Math.min(100, Math.floor(frac * 100))).padStart(3)}%`,
    `  ${n(p.attempts)}/${n(p.target)} ${noun}  ${n(rate)}/s  stalls ${p.stalls}  failed ${p.failed}  ${(p.elapsedMs / 1000).toFixed(0)} s`,
  ].join('');
}

/**
 * Progress on stderr. On a TTY: a bar per mode, redrawn in place, the finished modes' bars kept above.
 * Otherwise (CI logs, pipes): a plain line per mode every few seconds and when it completes.
 * Machine output (JSON) never goes here.
 */
export class ProgressPrinter {
  private lastPlain = -Infinity;
  private lineOpen = false;
  private currentMode: number | null = null;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly quiet = false) {}

  private get tty(): boolean {
    return this.stream.isTTY === true;
  }

  phase(text: string): void {
    if (this.quiet) return;
    this.endLine();
    this.stream.write(`· ${text}\n`);
  }

  progress(p: ScenarioProgress, noun = 'attempts'): void {
    if (this.quiet) return;
    if (this.currentMode !== p.index) {
      this.endLine();
      this.currentMode = p.index;
      this.lastPlain = -Infinity;
    }
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${progressText(p, noun)}`);
      this.lineOpen = true;
    } else if (p.elapsedMs - this.lastPlain >= PLAIN_INTERVAL_MS || (p.attempts >= p.target && this.lastPlain !== Infinity)) {
      this.lastPlain = p.attempts >= p.target ? Infinity : p.elapsedMs;
      this.stream.write(progressText(p, noun, false) + '\n');
    }
  }

  endLine(): void {
    if (this.lineOpen) {
      this.stream.write('\n');
      this.lineOpen = false;
    }
  }
}
