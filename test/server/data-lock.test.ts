import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../server/data-lock.ts';
import { tempDir } from '../helpers/relay.ts';

// The data-directory lock on real files: who holds it, stale locks, another host's lock, a takeover in progress.
let dir: string;
beforeEach(() => {
  dir = tempDir('lock');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (a relay killed with -9 leaves one like it in its lock). */
function deadPid(): number {
  const pid = spawnSync('true').pid;
  if (!pid) throw new Error('no pid');
  return pid;
}

function writeLock(record: Record<string, unknown>): void {
  writeFileSync(join(dir, 'relay.lock'), `${JSON.stringify(record)}\n`);
}

describe('lockDataDir', () => {
  it('writes a 0600 lock naming this process, and removes it on release', () => {
    const lock = lockDataDir(dir, () => new Date('2026-12-03T06:20:00Z'));
    const path = join(dir, 'relay.lock');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname(), startedAt: '2026-12-03T06:20:00.000Z' });
    expect(lock.tookOverFrom).toBeNull();
    lock.release();
    expect(existsSync(path)).toBe(false);
  });

  it('takes over a lock whose pid no longer runs, and says whose it was', () => {
    const pid = deadPid();
    writeLock({ pid, host: hostname(), startedAt: '2026-12-03T05:00:00.000Z', nonce: 'old' });
    const lock = lockDataDir(dir);
    expect(lock.tookOverFrom).toMatchObject({ pid, startedAt: '2026-12-03T05:00:00.000Z' });
    expect(JSON.parse(readFileSync(join(dir, 'relay.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it('takes over a lock file cut short (a crash while it was written by an older relay)', () => {
    writeFileSync(join(dir, 'relay.lock'), '{"pid": 12');
    const lock = lockDataDir(dir);
    expect(JSON.parse(readFileSync(join(dir, 'relay.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it('never takes over a lock written on another host, and names that host', () => {
    writeLock({ pid: deadPid(), host: 'relay-b.example.org', startedAt: '2026-12-03T05:00:00.000Z', nonce: 'b' });
    expect(() => lockDataDir(dir)).toThrow(/in use by another relay \(pid \d+ on relay-b\.example\.org, started 2026-12-03T05:00:00\.000Z\)/);
  });

  it('refuses while another relay is taking over at this moment; clears a takeover left 10 s ago by a killed relay', () => {
    writeLock({ pid: deadPid(), host: hostname(), startedAt: '2026-12-03T05:00:00.000Z', nonce: 'old' });
    const mutex = join(dir, 'relay.lock.takeover');
    mkdirSync(mutex);
    expect(() => lockDataDir(dir)).toThrow(/another relay is starting on it at this moment/);
    const old = (Date.now() - 11_000) / 1000;
    utimesSync(mutex, old, old);
    const lock = lockDataDir(dir);
    expect(existsSync(mutex)).toBe(false);
    lock.release();
  });

  it('does not remove a lock it no longer owns (another relay took it over after this one was judged gone)', () => {
    const lock = lockDataDir(dir);
    writeLock({ pid: process.pid + 1, host: hostname(), startedAt: '2026-12-03T07:00:00.000Z', nonce: 'newer' });
    lock.release();
    expect(JSON.parse(readFileSync(join(dir, 'relay.lock'), 'utf8'))).toMatchObject({ nonce: 'newer' });
  });
});
