// Crash loop: a relay process is killed with SIGKILL at seeded random moments while PoCs send; every notice whose sender holds a receipt reaches every other PoC application exactly once, the audit chain verifies, and no deadline step is lost or doubled.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultEscalationPolicy,
  escalationAuditType,
  initCrypto,
  verifyAuditChain,
  verifyReceipt,
  type AuditCheckpoint,
  type AuditEvent,
  type Level,
  type RelayReceipt,
} from '../../shared/index.ts';
import type { HotlineClient } from '../../client/hotline-client.ts';
import type { MessageRecord } from '../../client/history.ts';
import { NoticeLedger, historyRowCounts } from '../helpers/notice-ledger.ts';
import { enrolPoc, pocClient, whenConnected, type EnrolledPoc } from '../helpers/poc.ts';
import { adminCall, tempDir } from '../helpers/relay.ts';
import { freePort, killAllRelays, spawnRelay, type RelayProcess } from '../helpers/relay-process.ts';
import { randomInt, seededRandom } from '../helpers/seeded-random.ts';
import { chartered } from '../helpers/trust.ts';

/** Kill–restart cycles: 10 in `npm test`, more with HOTLINE_SOAK_CYCLES (`npm run soak`). */
const CYCLES = Math.max(1, Number(process.env.HOTLINE_SOAK_CYCLES ?? 10));
const SEED = Number(process.env.HOTLINE_SOAK_SEED ?? 20_260_901);
/** Short enough that notices go overdue, and escalate, during the loop. */
const FLASH_MS = 3000;
/** Relay event-loop lag allowed between a step's due time and its firing, when judging a step against an ack. */
const FIRE_LAG_MS = 1000;
const escalationTypes = defaultEscalationPolicy.map((s) => escalationAuditType(s.action));

interface Party {
  readonly label: string;
  readonly state: 'US' | 'CN';
  readonly poc: EnrolledPoc;
  readonly client: HotlineClient;
}

interface HeldNotice {
  readonly id: string;
  readonly sender: string;
  readonly level: Level;
  readonly receipt: RelayReceipt;
}

interface StoredNotice {
  readonly id: string;
  readonly hash: string;
  readonly auditSeq: number;
}

const root = tempDir('crash-loop');
const dataDir = join(root, 'relay');
const ledger = new NoticeLedger();
const held = new Map<string, HeldNotice>();
const parties: Party[] = [];
let relay: RelayProcess;
let kills = 0;
let attempts = 0;
let acksAccepted = 0;
let events: AuditEvent[] = [];
let checkpoints: AuditCheckpoint[] = [];
let storedNotices = new Map<string, StoredNotice>();
const historyRows = new Map<string, Map<string, number>>();

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The receipted notices `label` must have got: every one it did not send itself. */
function owedTo(label: string): HeldNotice[] {
  return [...held.values()].filter((n) => n.sender !== label);
}

/** A steady stream of notices (unique texts) until `stop.done`; counts only those with a relay receipt. */
async function sendStream(party: Party, random: () => number, stop: { done: boolean }): Promise<void> {
  const toState = party.state === 'US' ? 'CN' : 'US';
  for (let i = 0; !stop.done; i++) {
    if (!(await whenConnected(party.client, 5000))) continue;
    const level: Level = random() < 0.4 ? 'FLASH' : 'PRIORITY';
    attempts++;
    try {
      const sent = await party.client.send({ toState, level, subject: `loop ${party.label}`, text: `${party.label} notice ${i} (seed ${SEED})` });
      const receipt = sent.receipts[0];
      if (receipt) held.set(sent.id, { id: sent.id, sender: party.label, level, receipt });
    } catch {
      // Relay down or cut mid-request: no receipt, so nothing is owed; the next notice is a new one.
    }
    await delay(randomInt(random, 60, 240));
  }
}

/** The recipient PoCs acknowledge half of the other side's FLASH notices, after a random pause (some in time, some late). */
function acknowledgeSome(party: Party, random: () => number, tasks: Set<Promise<void>>): (notice: MessageRecord) => void {
  return (notice) => {
    if (notice.kind !== 'notice' || notice.level !== 'FLASH' || notice.fromState === party.state) return;
    if (Number.parseInt(notice.id.slice(-1), 16) % 2 !== 0) return;
    const pause = randomInt(random, 0, 4500);
    const task = (async () => {
      await delay(pause);
      for (let attempt = 0; attempt < 5; attempt++) {
        if (!(await whenConnected(party.client, 5000))) continue;
        try {
          await party.client.ack(notice.id);
          acksAccepted++;
          return;
        } catch {
          // Relay down: try again once it is back (a second ack of a thread is stored but changes nothing).
        }
      }
    })();
    tasks.add(task);
  };
}

function readRelayRecords(): void {
  const db = new Database(join(dataDir, 'relay.db'), { readonly: true, fileMustExist: true });
  try {
    events = (db.prepare('SELECT seq, at, type, data_json, prev, hash FROM audit_events ORDER BY seq').all() as {
      seq: number;
      at: number;
      type: string;
      data_json: string;
      prev: string;
      hash: string;
    }[]).map((r) => ({ seq: r.seq, at: r.at, type: r.type, data: JSON.parse(r.data_json) as Record<string, unknown>, prev: r.prev, hash: r.hash }));
    checkpoints = db.prepare('SELECT seq, head, at, relay, sig FROM audit_checkpoints ORDER BY seq').all() as AuditCheckpoint[];
    const rows = db.prepare("SELECT id, hash, audit_seq AS auditSeq FROM envelopes WHERE kind = 'notice'").all() as StoredNotice[];
    storedNotices = new Map(rows.map((r) => [r.id, r]));
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  await initCrypto();
  const port = await freePort();
  relay = await spawnRelay({ dataDir, port });
  await adminCall(relay, 'POST', '/channels', { a: 'US', b: 'CN', deadlines: { FLASH: FLASH_MS } });
  const cast = [
    { label: 'us-sender-1', state: 'US', role: 'poc' },
    { label: 'us-sender-2', state: 'US', role: 'poc' },
    { label: 'cn-sender', state: 'CN', role: 'poc' },
    { label: 'us-officer', state: 'US', role: 'poc' },
    { label: 'cn-officer', state: 'CN', role: 'poc' },
    { label: 'cn-alternate', state: 'CN', role: 'alternate' },
  ] as const;
  const ackTasks = new Set<Promise<void>>();
  for (const [i, c] of cast.entries()) {
    const poc = await enrolPoc(relay, { root, label: c.label, state: c.state, role: c.role });
    const party: Party = { label: c.label, state: c.state, poc, client: pocClient(poc, { reconnect: true }) };
    const ackRandom = seededRandom(SEED + 100 + i);
    ledger.watch(c.label, party.client, c.label.endsWith('officer') ? acknowledgeSome(party, ackRandom, ackTasks) : undefined);
    parties.push(party);
  }
  // The charter (FLASH as the channel was opened with) and both rosters; they persist in the relay's store across kills.
  await chartered(relay, 'US-CN', parties.map((p) => p.poc), { deadlines: { FLASH: FLASH_MS } });
  for (const p of parties) await p.client.connect();

  const stop = { done: false };
  const senders = parties.filter((p) => p.label.includes('sender'));
  const streams = senders.map((p, i) => sendStream(p, seededRandom(SEED + 1 + i), stop));
  const killRandom = seededRandom(SEED);
  const started = Date.now();
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    // One time in five a kill during recovery, right after the ready line; otherwise once every PoC is back (so each
    // cycle carries traffic), at a random moment of the next 0.3–2.5 s.
    const duringRecovery = killRandom() < 0.2;
    const pause = duringRecovery ? randomInt(killRandom, 0, 400) : randomInt(killRandom, 300, 2500);
    if (!duringRecovery) await Promise.all(parties.map((p) => whenConnected(p.client, 15_000)));
    await delay(pause);
    await relay.kill9();
    kills++;
    relay = await spawnRelay({ dataDir, port });
  }
  stop.done = true;
  await Promise.all(streams);
  await Promise.all([...ackTasks]);

  // Everything receipted reaches everyone else; then every unacknowledged FLASH notice is past deadline + 50%.
  await Promise.all(parties.map((p) => ledger.waitForAll(p.label, owedTo(p.label).map((n) => n.id), 45_000).catch(() => undefined)));
  const lastFlash = Math.max(0, ...[...held.values()].filter((n) => n.level === 'FLASH').map((n) => n.receipt.acceptedAt));
  await delay(Math.max(0, lastFlash + 1.5 * FLASH_MS + FIRE_LAG_MS - Date.now()));
  for (const p of parties) await p.client.settle();
  for (const p of parties) p.client.close();
  const stopped = await relay.stop();
  if (stopped !== 0) throw new Error(`relay did not stop cleanly (${stopped}):\n${relay.log().slice(-2000)}`);

  readRelayRecords();
  for (const p of parties) historyRows.set(p.label, historyRowCounts(p.poc.home));
  const delivered = Object.fromEntries(parties.map((p) => [p.label, owedTo(p.label).filter((n) => ledger.count(p.label, n.id) === 1).length]));
  const lost = parties.reduce((sum, p) => sum + owedTo(p.label).filter((n) => ledger.count(p.label, n.id) === 0).length, 0);
  const historyDuplicates = [...historyRows.values()].reduce((sum, rows) => sum + [...rows.values()].reduce((s, n) => s + Math.max(0, n - 1), 0), 0);
  // Accepted, but the kill came before the receipt reached the sender: delivered all the same, owed to nobody.
  const withoutReceipt = new Set(ledger.arrived('cn-officer').concat(ledger.arrived('us-officer')).map((n) => n.id).filter((id) => !held.has(id))).size;
  console.log(
    `crash-loop: seed=${SEED} cycles=${CYCLES} kills=${kills} sent=${attempts} receiptsHeld=${held.size} ` +
      `delivered=${JSON.stringify(delivered)} lost=${lost} duplicates=${ledger.duplicates() + historyDuplicates} deliveredWithoutReceipt=${withoutReceipt} ` +
      `flash=${[...held.values()].filter((n) => n.level === 'FLASH').length} acks=${acksAccepted} ` +
      `steps=${events.filter((e) => escalationTypes.includes(e.type)).length} auditEvents=${events.length} checkpoints=${checkpoints.length} ` +
      `signedThrough=${checkpoints.at(-1)?.seq ?? 0} ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}, 60_000 + CYCLES * 12_000);

afterAll(() => {
  for (const p of parties) p.client.close();
  killAllRelays();
  rmSync(root, { recursive: true, force: true });
});

describe('relay crash loop (kill -9 at random moments)', () => {
  it('killed the relay every cycle and still got receipts for notices sent across the restarts', () => {
    expect(kills).toBe(CYCLES);
    expect(held.size).toBeGreaterThan(CYCLES * 3);
    expect(held.size).toBeLessThanOrEqual(attempts);
  });

  it('hands every receipted notice to every other PoC application exactly once', () => {
    const wrong: string[] = [];
    for (const p of parties) {
      for (const n of owedTo(p.label)) {
        const count = ledger.count(p.label, n.id);
        if (count !== 1) wrong.push(`${p.label} got ${n.id} ${count}×`);
      }
    }
    expect(wrong).toEqual([]);
    expect(ledger.duplicates()).toBe(0);
  });

  it("keeps every receipted notice exactly once in every other PoC's history.db", () => {
    const wrong: string[] = [];
    for (const p of parties) {
      const rows = historyRows.get(p.label) ?? new Map<string, number>();
      for (const n of owedTo(p.label)) if (rows.get(n.id) !== 1) wrong.push(`${p.label}: ${n.id} has ${rows.get(n.id) ?? 0} rows`);
    }
    expect(wrong).toEqual([]);
  });

  it('keeps every receipted envelope on record with the hash and audit event its receipt names', () => {
    const bySeq = new Map(events.map((e) => [e.seq, e]));
    for (const n of held.values()) {
      verifyReceipt(n.receipt, relay.relayKid);
      expect(storedNotices.get(n.id)).toEqual({ id: n.id, hash: n.receipt.hash, auditSeq: n.receipt.auditSeq });
      expect(bySeq.get(n.receipt.auditSeq)).toMatchObject({ type: 'envelope.notice', at: n.receipt.acceptedAt, data: { id: n.id, hash: n.receipt.hash } });
    }
  });

  it('leaves an audit chain that verifies end to end, every event and every signed checkpoint', () => {
    const verified = verifyAuditChain(events, checkpoints, relay.relayKid);
    expect(verified).toMatchObject({ events: events.length, firstSeq: 1, lastSeq: events.length, checkpoints: checkpoints.length });
    expect(verified.signedThrough).toBeGreaterThan(0);
  });

  it('fires each escalation step of a deadline at most once, and the first ack of a thread is recorded once', () => {
    const counts = new Map<string, number>();
    for (const e of events) {
      if (escalationTypes.includes(e.type)) counts.set(`${String(e.data.id)} ${e.type}`, (counts.get(`${String(e.data.id)} ${e.type}`) ?? 0) + 1);
      if (e.type === 'deadline.met' || e.type === 'deadline.late') counts.set(`${String(e.data.id)} ack`, (counts.get(`${String(e.data.id)} ack`) ?? 0) + 1);
    }
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
  });

  it('fires every step of an unacknowledged FLASH notice, and of an acknowledged one only the steps due before its ack', () => {
    const fired = new Map<string, AuditEvent>();
    for (const e of events) if (escalationTypes.includes(e.type)) fired.set(`${String(e.data.id)} ${e.type}`, e);
    const ackOf = new Map<string, number>();
    for (const e of events) if (e.type === 'deadline.met' || e.type === 'deadline.late') ackOf.set(String(e.data.id), Number(e.data.ackedAt));
    const problems: string[] = [];
    let acked = 0;
    for (const n of held.values()) {
      if (n.level !== 'FLASH') continue;
      const duration = (n.receipt.ackDeadline ?? 0) - n.receipt.acceptedAt;
      expect(duration).toBe(FLASH_MS);
      const ackedAt = ackOf.get(n.id) ?? null;
      if (ackedAt !== null) acked++;
      for (const step of defaultEscalationPolicy) {
        const due = n.receipt.acceptedAt + Math.round((duration * step.atPercent) / 100);
        const event = fired.get(`${n.id} ${escalationAuditType(step.action)}`);
        const mustFire = ackedAt === null || due < ackedAt - FIRE_LAG_MS;
        const mustNotFire = ackedAt !== null && due > ackedAt;
        if (mustFire && !event) problems.push(`${n.id} ${step.action} due ${due} never fired (ack ${ackedAt ?? 'none'})`);
        if (mustNotFire && event) problems.push(`${n.id} ${step.action} due ${due} fired after the ack at ${ackedAt}`);
        if (event && (event.data.due !== due || event.at < due)) problems.push(`${n.id} ${step.action} fired at ${event.at} for due ${String(event.data.due)}, expected ${due}`);
      }
    }
    expect(problems).toEqual([]);
    // Both kinds were exercised.
    expect(acked).toBeGreaterThan(0);
    expect([...held.values()].filter((n) => n.level === 'FLASH').length).toBeGreaterThan(acked);
  });
});
