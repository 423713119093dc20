// The relay data directory's lock (DIR/relay.lock): one relay per store; a lock left by a killed relay is taken over.
import { chmodSync, linkSync, mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { HotlineError } from '../shared/index.ts';

const LOCK_FILE = 'relay.lock';

const lockSchema = z.object({ pid: z.number().int().positive(), host: z.string(), startedAt: z.string(), nonce: z.string() });
type LockRecord = z.infer<typeof lockSchema>;

/** Data directories this process holds: a second relay in the same process is refused too (same pid, alive). */
const heldHere = new Set<string>();

export interface DataDirLock {
  readonly path: string;
  /** Set when a lock left by a relay that is no longer running was taken over: whose it was. */
  readonly tookOverFrom: LockHolder | null;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

function readLock(path: string): LockRecord | null {
  try {
    const parsed = lockSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the relay that wrote `lock` may still be running; only a dead pid on this host proves it is not. */
function holderAlive(lock: LockRecord, path: string): boolean {
  if (lock.host !== hostname()) return true;
  // Our own pid: held by this process (a second startRelay here), or left by an earlier process that had our pid
  // (a container restarted after kill -9 often gets the same pid again).
  if (lock.pid === process.pid) return heldHere.has(path);
  return pidAlive(lock.pid);
}

/** Who holds (or held) a lock, as the operator is told. */
export type LockHolder = Pick<LockRecord, 'pid' | 'host' | 'startedAt'>;

function describe(lock: LockHolder): string {
  return `pid ${lock.pid}${lock.host === hostname() ? '' : ` on ${lock.host}`}, started ${lock.startedAt}`;
}

/** A takeover mutex older than this was left by a relay killed in the middle of one (which takes microseconds). */
const STALE_TAKEOVER_MS = 10_000;

function errnoOf(cause: unknown): string | undefined {
  return (cause as NodeJS.ErrnoException).code;
}

/**
 * Removes a lock judged stale, under a takeover mutex (mkdir is atomic) and after a second look, so that two relays
 * starting at once on a stale lock cannot both remove it (one would remove the lock the other just took). False when
 * another relay is taking over at this moment.
 */
function removeStaleLock(path: string, judged: LockRecord | null): boolean {
  const mutex = `${path}.takeover`;
  try {
    mkdirSync(mutex, { mode: 0o700 });
  } catch (cause) {
    if (errnoOf(cause) !== 'EEXIST') throw cause;
    if (Date.now() - statSync(mutex).mtimeMs < STALE_TAKEOVER_MS) return false;
    rmdirSync(mutex);
    try {
      mkdirSync(mutex, { mode: 0o700 });
    } catch (again) {
      if (errnoOf(again) === 'EEXIST') return false;
      throw again;
    }
  }
  try {
    // Changed since it was judged: the caller looks again (it is now someone's live lock, or gone).
    if ((readLock(path)?.nonce ?? null) !== (judged?.nonce ?? null)) return true;
    try {
      unlinkSync(path);
    } catch (cause) {
      if (errnoOf(cause) !== 'ENOENT') throw cause;
    }
    return true;
  } finally {
    rmdirSync(mutex);
  }
}

function lockedBy(dataDir: string, held: LockRecord): HotlineError {
  return new HotlineError('DATA_DIR_LOCKED', `${dataDir} is in use by another relay (${describe(held)}); stop it or use --data with another directory`, {
    detail: { pid: held.pid, host: held.host, startedAt: held.startedAt },
  });
}

function startingNow(dataDir: string): HotlineError {
  return new HotlineError('DATA_DIR_LOCKED', `${dataDir}: another relay is starting on it at this moment; stop it or use --data with another directory`);
}

/**
 * Takes `dataDir`'s lock before anything in it is opened, creating the directory (0700) if needed. Refuses with
 * DATA_DIR_LOCKED, naming the holder, while another relay holds it; a lock whose relay is gone (its pid no longer
 * runs on this host) is taken over and reported in `tookOverFrom`. A lock from another host is never taken over.
 * @example const lock = lockDataDir(dir); try { ... } finally { lock.release(); }
 */
export function lockDataDir(dataDir: string, now: () => Date = () => new Date()): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const path = join(dataDir, LOCK_FILE);
  const mine: LockRecord = { pid: process.pid, host: hostname(), startedAt: now().toISOString(), nonce: `${process.pid}-${Date.now()}-${Math.random()}` };
  let tookOverFrom: LockRecord | null = null;
  // Written whole to a private file, then linked into place: link() fails when the lock exists, so the lock is
  // never seen half-written and two relays starting at once cannot both create it.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(mine)}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (cause) {
        if (errnoOf(cause) !== 'EEXIST') throw cause;
      }
      const held = readLock(path);
      if (held && holderAlive(held, path)) throw lockedBy(dataDir, held);
      // The relay that held it is gone (or the file is not a lock we can read): remove it and try again.
      if (attempt >= 3 || !removeStaleLock(path, held)) throw startingNow(dataDir);
      tookOverFrom = held ?? tookOverFrom;
    }
  } finally {
    unlinkSync(tmp);
  }
  heldHere.add(path);
  let released = false;
  return {
    path,
    tookOverFrom,
    release: () => {
      if (released) return;
      released = true;
      heldHere.delete(path);
      // Only our own lock: a relay that took over a lock it believed stale must not lose it to us.
      if (readLock(path)?.nonce !== mine.nonce) return;
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}

/** One line for the operator when a stale lock was taken over. */
export function takeOverNotice(dataDir: string, from: LockHolder): string {
  return `hotline relay: ${dataDir} was locked by a relay that is no longer running (${describe(from)}); lock taken over`;
}
