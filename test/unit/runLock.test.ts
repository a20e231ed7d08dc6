import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
  });

  it('takes over a stale lock whose pid is gone', async () => {
    const file = tmpLock();
    writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 12345, command: 'repro tcp-syn', startedAt: '2026-01-01T00:00:00Z' }));
    const lock = await RunLock.acquire('repro tcp-syn', file);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid).toBe(process.pid);
    await lock.release();
  });

  it('takes over a half-written lock', async () => {
    const file = tmpLock();
    writeFileSync(file, '{"pid": 12');
    const lock = await RunLock.acquire('repro tcp-syn', file);
    await lock.release();
    expect(existsSync(file)).toBe(false);
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

describe('removeStaleLock', () => {
  it('removes a dead owner\'s lock and keeps a live one', async () => {
    const { removeStaleLock } = await import('../../src/runner/runLock.js');
    const file = tmpLock();
    expect(await removeStaleLock(file)).toBe(false);
    writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 4321, command: 'repro tcp-syn', startedAt: '' }));
    expect(await removeStaleLock(file)).toBe(true);
    expect(existsSync(file)).toBe(false);
    const live = await RunLock.acquire('repro tcp-syn', file);
    expect(await removeStaleLock(file)).toBe(false);
    expect(existsSync(file)).toBe(true);
    live.releaseSync();
  });
});
