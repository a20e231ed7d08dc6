import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunLock, ownerIsLive } from '../../src/runner/runLock.js';
import { UserError } from '../../src/errors.js';

const tmpLock = (): string => path.join(mkdtempSync(path.join(tmpdir(), 'repro-lock-')), 'lock');

describe('RunLock', () => {
  it('is exclusive while its owner lives, and says who holds it', async () => {
    const file = tmpLock();
    const a = await RunLock.acquire('repro tcp-syn --modes none', file);
    const owner = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; command: string };
    expect(owner.pid).toBe(process.pid);
    const err = await RunLock.acquire('repro tcp-syn', file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain(`pid ${process.pid}`);
    expect((err as UserError).message).toContain('repro tcp-syn --modes none');
    a.releaseSync();
    expect(existsSync(file)).toBe(false);
    (await RunLock.acquire('repro tcp-syn', file)).releaseSync();
  });

  it('a file left by a dead run is no lock; a lock being created (file not yet written) is not taken', async () => {
    const file = tmpLock();
    writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 12345, command: 'repro tcp-syn', startedAt: '2026-01-01T00:00:00Z' }));
    const lock = await RunLock.acquire('repro tcp-syn', file);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid).toBe(process.pid);
    // The holder's file half-written (or replaced by anything): a second starter still loses and deletes nothing.
    writeFileSync(file, '{"pid": 12');
    await expect(RunLock.acquire('repro dns', file)).rejects.toThrow(/another process holds the run lock/);
    expect(readFileSync(file, 'utf8')).toBe('{"pid": 12');
    // Release deletes only a file that names us.
    await lock.release();
    expect(readFileSync(file, 'utf8')).toBe('{"pid": 12');
  });

  it('40 concurrent starters in separate processes, over a stale lock file: exactly one wins', { timeout: 60_000 }, async () => {
    const file = tmpLock();
    writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 777, command: 'repro tcp-syn', startedAt: '' }));
    const module = fileURLToPath(new URL('../../dist/runner/runLock.js', import.meta.url));
    // Each starter loads the module, says ready, waits for the word on stdin, tries once; a winner holds until its
    // stdin closes (after every starter has answered).
    const script = `
      const { RunLock } = await import(${JSON.stringify(module)});
      console.log('ready');
      process.stdin.setEncoding('utf8');
      await new Promise((r) => process.stdin.once('data', r));
      try { await RunLock.acquire('starter', ${JSON.stringify(file)}); console.log('won'); await new Promise((r) => process.stdin.once('end', r)); }
      catch (e) { console.log(e.name === 'UserError' ? 'lost' : 'error ' + e.message); }
      process.exit(0);`;
    const starters = Array.from({ length: 40 }, () => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      const ready = new Promise<void>((resolve) => c.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('ready')) resolve();
      }));
      const answered = new Promise<string>((resolve) => c.stdout.on('data', () => {
        const last = out.trim().split('\n').pop() ?? '';
        if (last !== 'ready') resolve(last);
      }));
      const closed = new Promise((resolve) => c.on('close', resolve));
      return { c, ready, answered, closed };
    });
    await Promise.all(starters.map((s) => s.ready));
    for (const s of starters) s.c.stdin.write('go\n');
    const outs = await Promise.all(starters.map((s) => s.answered));
    for (const s of starters) s.c.stdin.end();
    await Promise.all(starters.map((s) => s.closed));
    rmSync(path.dirname(file), { recursive: true, force: true });
    expect(outs.filter((o) => o === 'won')).toHaveLength(1);
    expect(outs.filter((o) => o === 'lost')).toHaveLength(39);
  });

  it('a SIGKILLed holder frees the lock at once (the kernel drops the name)', { timeout: 20_000 }, async () => {
    const file = tmpLock();
    const module = fileURLToPath(new URL('../../dist/runner/runLock.js', import.meta.url));
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `const { RunLock } = await import(${JSON.stringify(module)}); await RunLock.acquire('holder', ${JSON.stringify(file)}); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.on('data', () => resolve()));
    await expect(RunLock.acquire('repro tcp-syn', file)).rejects.toThrow(/holds/);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('close', r));
    (await RunLock.acquire('repro tcp-syn', file)).releaseSync();
  });
});

describe('ownerIsLive', () => {
  it('needs a live pid whose command line is a repro process (a reused pid is not the owner)', () => {
    const other = process.ppid; // alive, and not this process
    const owner = { pid: other, command: 'x', startedAt: '' };
    expect(ownerIsLive(owner, () => 'node\0/usr/lib/node_modules/repro/dist/cli.js\0tcp-syn')).toBe(true);
    expect(ownerIsLive(owner, () => '/usr/sbin/sshd\0-D')).toBe(false);
    expect(ownerIsLive({ ...owner, pid: 2 ** 22 + 999 }, () => 'node cli.js')).toBe(false);
    expect(ownerIsLive({ ...owner, pid: -1 }, () => 'node cli.js')).toBe(false);
  });
});

describe('RunLock beside a file-lock holder', () => {
  it('steps back when the file names another live repro process (a file-lock era run), and leaves its file', async () => {
    const file = tmpLock();
    // A live process whose command line says repro: a node child named so.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'repro-file-lock-holder'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const text = JSON.stringify({ pid: other.pid, command: 'repro tcp-syn (old)', startedAt: 'T' });
      writeFileSync(file, text);
      await expect(RunLock.acquire('repro dns', file)).rejects.toThrow(`another repro run holds ${file}: pid ${other.pid}, started T, \`repro tcp-syn (old)\``);
      expect(readFileSync(file, 'utf8')).toBe(text);
      // The name was given back: once the holder is gone, the lock is taken.
      other.kill('SIGKILL');
      await new Promise((r) => other.once('close', r));
      (await RunLock.acquire('repro dns', file)).releaseSync();
    } finally {
      other.kill('SIGKILL');
    }
  });
});
