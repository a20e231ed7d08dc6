import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/host/exec.js';
import { RULESET_MAX_BYTES, readRulesets } from '../../src/host/rulesets.js';
import { rulesetUnreadable } from '../../src/node/audit/masquerade.js';

/**
 * A node's rule sets are as large as its services make them. Stand-ins for iptables-nft-save and nft (first on
 * PATH) write without end; audit must stop at its cap, say so, and still check the complete lines it kept.
 */
describe('rule set reads are capped', () => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'repro-fake-tools-'));
  const oldPath = process.env['PATH'];
  beforeAll(() => {
    const tool = (name: string, body: string): void => {
      writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(bin, name), 0o755);
    };
    tool('iptables-nft-save', `echo '*nat'; exec yes -- '-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE'`);
    tool('ip6tables-nft-save', 'exit 0');
    tool('nft', `printf '{"nftables": ['; exec yes -- '{"metainfo": {}},'`);
    process.env['PATH'] = `${bin}:${oldPath ?? ''}`;
  });
  afterAll(() => {
    process.env['PATH'] = oldPath;
    rmSync(bin, { recursive: true, force: true });
  });

  it('run keeps the first maxStdoutBytes and stops the command', async () => {
    const r = await run('head', ['-c', String(256 * 1024 * 1024), '/dev/zero'], { maxStdoutBytes: 1 << 20 });
    expect(r.truncated).toBe(true);
    expect(Buffer.byteLength(r.stdout)).toBe(1 << 20);
  });

  it('endless iptables-save and nft -j output end at the cap, said as a finding', { timeout: 20_000 }, async () => {
    const reads = await readRulesets({ kind: 'host' });
    const v4 = reads.find((r) => r.tool === 'iptables-nft-save');
    const nft = reads.find((r) => r.tool === 'nft -j list ruleset');
    expect(v4?.error).toBe('output over 24 MiB: the tool was stopped there; only the rules before it were checked');
    expect(v4?.text?.length).toBeLessThanOrEqual(RULESET_MAX_BYTES);
    expect(v4?.text?.endsWith('-j MASQUERADE\n')).toBe(true);
    expect(nft).toEqual({ tool: 'nft -j list ruleset', text: null, error: 'output over 24 MiB: the tool was stopped there, and a cut JSON dump cannot be read' });
    const titles = rulesetUnreadable(reads).map((f) => f.title);
    expect(titles).toContain('iptables-nft-save was read in part: the rest of its rules were not checked');
    expect(titles).toContain('nft -j list ruleset could not be read: its rules were not checked');
  });
});
