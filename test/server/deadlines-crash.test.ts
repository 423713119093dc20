// Deadlines survive kill -9: a real relay process is killed before its deadlines are due (and again mid-recovery); on restart the overdue steps fire at once, in order, none twice, the rest on time.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escalationEventSchema, initCrypto, type EscalationEvent, type RelayMessage } from '../../shared/index.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, tempDir } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

const FLASH = 1000;
const IMMEDIATE = 6000;
const binPath = new URL('../../bin/hotline.js', import.meta.url).pathname;

interface RelayProcess {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly httpUrl: string;
  readonly adminToken: string;
  /** Wall-clock ms when the process was spawned and when it printed its ready line. */
  readonly spawnedAt: number;
  readonly readyAt: number;
}

interface FiredRow {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly id: string;
  readonly step: number;
  readonly due: number;
  readonly rowid: number;
}

const dataDir = tempDir('crash');
const live = new Set<ChildProcess>();

async function startRelayProcess(): Promise<RelayProcess> {
  const spawnedAt = Date.now();
  const proc = spawn(process.execPath, [binPath, 'relay', '--port', '0', '--data', dataDir, '--json'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, HOTLINE_LOG_LEVEL: 'warn' },
  });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const ready = await new Promise<{ url: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay did not print its ready line within 15 s')), 15_000);
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { url?: string };
        if (typeof parsed.url === 'string') {
          clearTimeout(timer);
          resolve({ url: parsed.url });
        }
      } catch {
        // not the ready line
      }
    });
    proc.once('exit', (code) => reject(new Error(`relay exited with ${code} before it was ready`)));
  });
  return {
    proc,
    url: ready.url,
    httpUrl: ready.url.replace(/^ws/, 'http'),
    adminToken: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
    spawnedAt,
    readyAt: Date.now(),
  };
}

async function kill9(relay: RelayProcess): Promise<void> {
  if (relay.proc.exitCode !== null || relay.proc.signalCode !== null) return;
  const exited = new Promise((resolve) => relay.proc.once('exit', resolve));
  relay.proc.kill('SIGKILL');
  await exited;
}

/** Escalation audit events straight from relay.db (read-only, beside the running relay). */
function firedSteps(): FiredRow[] {
  const db = new Database(join(dataDir, 'relay.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `SELECT a.seq, a.at, a.type, a.data_json, e.rowid AS rowid FROM audit_events a
         JOIN envelopes e ON e.id = json_extract(a.data_json, '$.id')
         WHERE a.type = 'deadline.overdue' OR a.type LIKE 'escalation.%' ORDER BY a.seq`,
      )
      .all() as { seq: number; at: number; type: string; data_json: string; rowid: number }[];
    return rows.map((r) => {
      const data = JSON.parse(r.data_json) as { id: string; step: number; due: number };
      return { seq: r.seq, at: r.at, type: r.type, id: data.id, step: data.step, due: data.due, rowid: r.rowid };
    });
  } finally {
    db.close();
  }
}

async function until<T>(what: string, probe: () => T | null, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function byDueOrder(a: FiredRow, b: FiredRow): number {
  return a.due - b.due || a.rowid - b.rowid || a.step - b.step;
}

async function eventsOf(peer: RawPeer, count: number): Promise<EscalationEvent[]> {
  const out: EscalationEvent[] = [];
  while (out.length < count) {
    const msg: RelayMessage = await peer.next((m) => m.type === 'event', 8000);
    if (msg.type === 'event') out.push(escalationEventSchema.parse(msg.event));
  }
  return out;
}

beforeAll(initCrypto);

afterAll(async () => {
  for (const proc of live) proc.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('deadlines across kill -9', () => {
  it('fires every step that fell due while the relay was down at once on restart, in due order, none twice, and the rest on time', async () => {
    let relay = await startRelayProcess();
    await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH, IMMEDIATE } });
    const us = await RawPeer.enrol(relay, 'US');
    const cn = await RawPeer.enrol(relay, 'CN');
    const cnAlt = await RawPeer.enrol(relay, 'CN', 'alternate');
    await chartered(relay, 'CN-US', [us, cn, cnAlt], { deadlines: { FLASH, IMMEDIATE } });
    await us.connect(relay.url);
    const notices: { id: string; acceptedAt: number; level: string }[] = [];
    for (const level of ['FLASH', 'IMMEDIATE', 'FLASH', 'IMMEDIATE', 'FLASH'] as const) {
      const reply = await us.submit(us.envelope([cn, cnAlt], { level }));
      if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
      notices.push({ id: reply.receipt.id, acceptedAt: reply.receipt.acceptedAt, level });
    }
    us.close();
    await kill9(relay);
    expect(firedSteps()).toEqual([]);

    // Down until every FLASH step (1.0×, 1.25×, 1.5× of 1 s) is past due.
    const lastFlash = Math.max(...notices.filter((n) => n.level === 'FLASH').map((n) => n.acceptedAt));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastFlash + 1.5 * FLASH + 100 - Date.now())));
    relay = await startRelayProcess();
    const firstRestart = relay;
    const recovered = await until('the overdue FLASH steps to fire', () => (firedSteps().length >= 9 ? firedSteps() : null), 8000);
    // Crash again right after the recovery committed: nothing it fired may fire a second time.
    await kill9(relay);
    relay = await startRelayProcess();
    const secondRestart = relay;

    for (const p of [us, cn, cnAlt]) await p.connect(relay.url);
    const [toSender, toPocs, toAlternates] = await Promise.all([eventsOf(us, 5), eventsOf(cn, 5), eventsOf(cnAlt, 5)]);
    expect(toSender.every((e) => e.data.action === 'notify-sender')).toBe(true);
    expect(toPocs.every((e) => e.kind === 'overdue')).toBe(true);
    expect(toAlternates.every((e) => e.data.action === 'page-alternates')).toBe(true);
    for (const events of [toSender, toPocs, toAlternates]) expect(new Set(events.map((e) => e.data.id))).toEqual(new Set(notices.map((n) => n.id)));
    for (const p of [us, cn, cnAlt]) p.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await kill9(relay);

    const fired = firedSteps();
    // Once each: 5 notices × 3 steps, no (id, step) twice.
    expect(fired).toHaveLength(15);
    expect(new Set(fired.map((f) => `${f.id}:${f.step}`)).size).toBe(15);
    // The chain records them in due order.
    expect(fired.map((f) => f.seq)).toEqual([...fired].sort(byDueOrder).map((f) => f.seq));

    // Recovered at once on the first restart: every FLASH step, in a burst after the restart began.
    const flashIds = new Set(notices.filter((n) => n.level === 'FLASH').map((n) => n.id));
    const burst = recovered.slice(0, 9);
    expect(burst.every((f) => flashIds.has(f.id))).toBe(true);
    expect(burst.every((f) => f.at >= firstRestart.spawnedAt && f.at > f.due)).toBe(true);
    expect(Math.max(...burst.map((f) => f.at)) - Math.min(...burst.map((f) => f.at))).toBeLessThan(1000);

    // The IMMEDIATE steps: those due while the relay was down fire at once on start, the others on time.
    for (const f of fired.filter((s) => !flashIds.has(s.id))) {
      if (f.due < secondRestart.spawnedAt) expect(f.at).toBeGreaterThanOrEqual(secondRestart.spawnedAt);
      else if (f.due > secondRestart.readyAt) expect(f.at - f.due).toBeLessThan(1000);
      expect(f.at).toBeGreaterThanOrEqual(f.due);
    }
  }, 30_000);
});
