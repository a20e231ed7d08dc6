import { describe, expect, it } from 'vitest';
import { signalNote } from '../../src/exitCodes.js';

describe('an agent that died of a signal', () => {
  it('is named by the signal behind 128 + its number', () => {
    expect(signalNote(135)).toBe(' (killed by SIGBUS)');
    expect(signalNote(137)).toBe(' (killed by SIGKILL)');
    expect(signalNote(139)).toBe(' (killed by SIGSEGV)');
  });
  it('says nothing for ordinary exit codes', () => {
    expect(signalNote(1)).toBe('');
    expect(signalNote(128)).toBe('');
    expect(signalNote(2)).toBe('');
  });
});
