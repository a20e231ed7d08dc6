import { constants } from 'node:os';

/** Every exit code repro gives, in one place (docs/commands.md, "Exit codes"). */
export const EXIT = {
  /** The command did its job, whatever the verdict. */
  OK: 0,
  /** Anything else: a watchdog stop, a failed threshold, a worse diff, an unexpected error. */
  FAILED: 1,
  /** Bad input, a missing prerequisite, another run holding the host: one line on stderr, nothing created. */
  USAGE: 2,
  /** Interrupted by SIGINT/SIGTERM (a partial result is still written). */
  INTERRUPTED: 130,
} as const;

/** A process ended by a signal exits 128 + its number, as a shell reports it (SIGTERM: 143, SIGBUS: 135). */
export function exitCodeOfSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** ", killed by SIGxxx" for an exit code above 128 that is a signal's number + 128, else nothing. */
export function signalNote(code: number): string {
  const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
  return code > 128 && name ? ` (killed by ${name})` : '';
}
