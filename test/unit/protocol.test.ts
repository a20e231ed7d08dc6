import { describe, expect, it } from 'vitest';
import { parseEvent } from '../../src/agents/common/protocol.js';

describe('parseEvent', () => {
  it('returns valid events as they are', () => {
    expect(parseEvent('{"type":"ready","role":"tcp-client","pid":4242}')).toEqual({ type: 'ready', role: 'tcp-client', pid: 4242 });
    expect(parseEvent('{"type":"progress","attempts":10,"succeeded":9,"failed":1,"stalls":2}')).toEqual({
      type: 'progress',
      attempts: 10,
      succeeded: 9,
      failed: 1,
      stalls: 2,
    });
    expect(parseEvent('{"type":"stats","accepted":1000,"workers":2}')).toEqual({ type: 'stats', accepted: 1000, workers: 2 });
    expect(parseEvent('{"type":"error","message":"bind: EADDRINUSE"}')).toEqual({ type: 'error', message: 'bind: EADDRINUSE' });
  });

  it('keeps a result event with its encoded histograms', () => {
    const line = JSON.stringify({
      type: 'result',
      attempts: 3,
      succeeded: 2,
      failed: 1,
      failures: { ETIMEDOUT: 1 },
      histogram: 'HISTFAAAACR4nJNpmSzMwMDAyAABTFCaEUrDAAAJ8QBh',
      failureHistogram: '',
      elapsedMs: 812,
      aborted: false,
    });
    const e = parseEvent(line);
    expect(e.type).toBe('result');
    expect(e).toMatchObject({ attempts: 3, failures: { ETIMEDOUT: 1 }, aborted: false });
  });

  it('tolerates surrounding whitespace', () => {
    expect(parseEvent('  {"type":"ready","role":"tcp-server","pid":1}  ')).toEqual({ type: 'ready', role: 'tcp-server', pid: 1 });
  });

  it('turns a line that is not JSON into an error event quoting it', () => {
    expect(parseEvent('Segmentation fault')).toEqual({ type: 'error', message: 'agent printed a non-event line: Segmentation fault' });
    expect(parseEvent('')).toEqual({ type: 'error', message: 'agent printed a non-event line: ' });
    expect(parseEvent('{"type":"ready"')).toMatchObject({ type: 'error' });
  });

  it('turns JSON that is not an event into an error event', () => {
    for (const line of ['null', '42', '"ready"', '[{"type":"ready"}]', '{"kind":"ready"}', '{"type":7}', '{"type":null}']) {
      const e = parseEvent(line);
      expect(e, line).toEqual({ type: 'error', message: `agent printed a non-event line: ${line}` });
    }
  });

  it('quotes at most 200 characters of a long line', () => {
    const line = 'x'.repeat(500);
    const e = parseEvent(line);
    expect(e.type).toBe('error');
    if (e.type !== 'error') throw new Error('unreachable');
    expect(e.message).toBe(`agent printed a non-event line: ${'x'.repeat(200)}`);
  });
});
