import { describe, expect, it } from 'vitest';
import { udpWrapBinding } from '../../src/agents/dns/udpHandles.js';

describe("the raw DNS client's fast path (Node's udp_wrap binding)", () => {
  it('is there on the supported Node versions (20 and 22): losing it would silently halve the query rate', () => {
    const major = Number(process.versions.node.split('.')[0]);
    const b = udpWrapBinding();
    if (major === 20 || major === 22) expect(b).not.toBeNull();
    if (b) {
      // A handle can be made and closed without a socket ever being opened.
      const h = new b.UDP();
      expect(typeof h.connect).toBe('function');
      h.close();
      expect(typeof new b.SendWrap()).toBe('object');
    }
  });
});
