import type { ModeProgress } from './scenarios/tcpSyn.js';

/**
 * Progress on stderr: one rewritten line on a TTY, a plain line every few seconds otherwise.
 * Machine output (JSON) never goes here.
 */
export class ProgressPrinter {
  private lastPlain = 0;
  private lineOpen = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly quiet = false) {}

  private get tty(): boolean {
    return this.stream.isTTY === true;
  }

  phase(text: string): void {
    if (this.quiet) return;
    this.endLine();
    this.stream.write(`· ${text}\n`);
  }

  progress(p: ModeProgress): void {
    if (this.quiet) return;
    const rate = p.elapsedMs > 0 ? Math.round((p.attempts / p.elapsedMs) * 1000) : 0;
    const pct = p.target > 0 ? Math.min(100, Math.floor((p.attempts / p.target) * 100)) : 0;
    const text = `  [${p.index + 1}/${p.total}] ${p.mode.padEnd(12)} ${String(pct).padStart(3)}%  ${p.attempts.toLocaleString('en-US')} attempts  ${rate.toLocaleString('en-US')}/s  stalls ${p.stalls}  failed ${p.failed}  ${(p.elapsedMs / 1000).toFixed(0)} s`;
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${text}`);
      this.lineOpen = true;
    } else if (p.elapsedMs - this.lastPlain >= 5000 || p.elapsedMs < this.lastPlain) {
      this.lastPlain = p.elapsedMs;
      this.stream.write(text + '\n');
    }
  }

  endLine(): void {
    if (this.lineOpen) {
      this.stream.write('\n');
      this.lineOpen = false;
    }
  }
}
