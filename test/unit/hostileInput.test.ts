import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeHistogram } from '../../src/histogram.js';
import { loadResultFile } from '../../src/report/loadResults.js';
import { AgentConnection } from '../../src/runner/agentConnection.js';
import { histogramOf, makeResult } from './fixtures/results.js';

/** A compressed V2 HdrHistogram whose payload inflates to `zeros` bytes (a valid header, then zeros). */
function bomb(zeros: number): string {
  const header = Buffer.alloc(40);
  header.writeInt32BE(0x1c849303 | 0x10, 0);
  header.writeInt32BE(zeros, 4);
  header.writeInt32BE(0, 8);
  header.writeInt32BE(3, 12);
  header.writeBigInt64BE(1n, 16);
  header.writeBigInt64BE(600_000_000n, 24);
  header.writeDoubleBE(1, 32);
  const z = deflateSync(Buffer.concat([header, Buffer.alloc(zeros)]), { level: 9 });
  const outer = Buffer.alloc(8);
  outer.writeInt32BE(0x1c849304 | 0x10, 0);
  outer.writeInt32BE(z.length, 4);
  return Buffer.concat([outer, z]).toString('base64');
}

describe('files handed to report, diff, run', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'repro-hostile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a real histogram decodes; a deflate bomb (27 KB of base64 for 20 MB) is refused before inflating it all', () => {
    expect(decodeHistogram(histogramOf([100, 200, 300])).totalCount).toBe(3);
    const b = bomb(20 * 1024 * 1024);
    expect(b.length).toBeLessThan(40_000);
    expect(() => decodeHistogram(b)).toThrow('histogram not decoded: inflates past 1048576 bytes');
  });

  it('a result file carrying the bomb is refused by the loader, naming the field', async () => {
    const r = makeResult([{ mode: 'none', attempts: 1000 }]);
    const file = path.join(dir, 'bomb.json');
    writeFileSync(file, JSON.stringify({ ...r, modes: [{ ...r.modes[0], histogram: bomb(20 * 1024 * 1024) }] }));
    await expect(loadResultFile(file)).rejects.toThrow(`${file} is not a repro result: modes[0].histogram: histogram not decoded: inflates past 1048576 bytes`);
    const ok = path.join(dir, 'ok.json');
    writeFileSync(ok, JSON.stringify(r));
    expect((await loadResultFile(ok)).runId).toBe('a1b2c3');
  });

  it('a result file that is a FIFO, a huge file, or of the wrong shape is refused without hanging', { timeout: 5000 }, async () => {
    const fifo = path.join(dir, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    await expect(loadResultFile(fifo)).rejects.toThrow(`cannot read ${fifo}: ${fifo}: a FIFO, not read`);
    const huge = path.join(dir, 'huge.json');
    writeFileSync(huge, '{');
    truncateSync(huge, 1024 ** 3);
    await expect(loadResultFile(huge)).rejects.toThrow(/larger than 16777216 bytes, not read/);
    const wrong = path.join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ ...makeResult([{ mode: 'none', attempts: 1 }]), modes: [{ notAMode: 1 }] }));
    await expect(loadResultFile(wrong)).rejects.toThrow(`${wrong} is not a repro result: modes[0] has no "mode" name`);
  });

  it('an agent printing a line without end is stopped at 4 MiB, not buffered', { timeout: 10_000 }, async () => {
    const child = spawn('cat', ['/dev/zero'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    const conn = new AgentConnection('agent', { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exited, kill: () => child.kill('SIGKILL') });
    await expect(conn.waitFor('ready', 8000)).rejects.toThrow('agent: agent printed a line over 4194304 bytes: stopped');
    expect(await exited).toBe(128);
  });
});
