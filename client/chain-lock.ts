// One sender chain per key and channel, but several processes may hold the key: `hotline listen` in one terminal sends
// delivery receipts while `hotline ack` in another sends the ack. Each send reads the chain head, builds the next
// link and submits it; two processes doing that at once build two different links with the same number, the relay
// takes one and refuses the other as a fork (CHAIN_BROKEN, an alarm telling the officer to call their authority).
// This lock makes that sequence exclusive across the processes of one HOTLINE_HOME.
//
// It is SQLite's own write lock on a small file per channel (`BEGIN IMMEDIATE` on a connection used for nothing
// else): the operating system releases it when a process dies, so a killed `hotline listen` never leaves a stale lock.
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HotlineError } from '../shared/index.ts';

const POLL_MS = 5;

export class ChainLock {
  private readonly files = new Map<string, Database.Database>();

  constructor(private readonly dir: string) {}

  private fileFor(channel: string): Database.Database {
    let db = this.files.get(channel);
    if (!db) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // Channel ids are two state codes and a dash (validated by the schema): safe in a file name.
      const file = join(this.dir, `chain-${channel.replace(/[^A-Za-z0-9_-]/g, '_')}.lock`);
      db = new Database(file);
      chmodSync(file, 0o600);
      // Waiting is done here, asynchronously: a busy timeout would block this process's event loop (and its deliveries).
      db.pragma('busy_timeout = 0');
      this.files.set(channel, db);
    }
    return db;
  }

  /** Runs `fn` while no other process on this home sends on `channel`; waits (polling) up to `timeoutMs` for it. */
  async with<T>(channel: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    const db = this.fileFor(channel);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        db.exec('BEGIN IMMEDIATE');
        break;
      } catch (cause) {
        if ((cause as { code?: string }).code !== 'SQLITE_BUSY') throw cause;
        if (Date.now() > deadline) {
          throw new HotlineError('HOME_BUSY', `another hotline process on this HOTLINE_HOME has been sending on ${channel} for ${Math.round(timeoutMs / 1000)} s; try again`, { cause });
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
    try {
      return await fn();
    } finally {
      // Closed meanwhile (the client closed): closing released the lock.
      if (db.open) db.exec('COMMIT');
    }
  }

  close(): void {
    for (const db of this.files.values()) db.close();
    this.files.clear();
  }
}
