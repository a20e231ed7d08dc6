import { EXIT } from './exitCodes.js';

/**
 * Errors a user can act on. Each prints as one line and exits with EXIT.USAGE
 * (bad input, missing prerequisite, conflict on the host).
 */
export class UserError extends Error {
  readonly exitCode = EXIT.USAGE;
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** A required tool or privilege is missing; the message says what to install or run. */
export class PrerequisiteError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'PrerequisiteError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
