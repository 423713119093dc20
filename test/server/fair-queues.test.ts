// Fair queues at an offline recipient: a stolen key's flood fills its own share, never the queue of others or of FLASH and IMMEDIATE.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initCrypto, type Level, type RelayMessage } from '../../shared/index.ts';
import { RelayStore } from '../../server/store.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

type Reply = Awaited<ReturnType<RawPeer['submit']>>;

/** Small enough to flood in a test: each queue of a recipient holds 50; a sender's share of each is 10. */
const PENDING_CAP = 50;
const SHARE = 10;

let relay: TestRelay;
/** The offline recipient. */
let us: RawPeer;
/** A CN PoC whose key was stolen, and an honest CN PoC. */
let stolen: RawPeer;
let honest: RawPeer;

function envelopeCount(): number {
  return (relay.store.db.prepare('SELECT COUNT(*) AS n FROM envelopes').get() as { n: number }).n;
}

function codeOf(reply: Reply): string {
  return reply.type === 'error' ? reply.code : reply.type;
}

/** `count` notices of `level` from `from` to the US device, all sent at once (committed in the order sent). */
function flood(from: RawPeer, count: number, level: Level): Promise<Reply[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => from.submit(from.envelope([us], { level }, `junk ${i}`))));
}

async function cnPeer(name: string): Promise<RawPeer> {
  const peer = await RawPeer.enrol(relay, 'CN', 'poc', name);
  await chartered(relay, 'CN-US', [peer]);
  expect((await peer.connect(relay.url)).type).toBe('welcome');
  return peer;
}

beforeEach(async () => {
  await initCrypto();
  relay = await startTestRelay({ config: { limits: { pendingCap: PENDING_CAP } } });
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US' });
  us = await RawPeer.enrol(relay, 'US');
  stolen = await RawPeer.enrol(relay, 'CN', 'poc', 'CN stolen');
  honest = await RawPeer.enrol(relay, 'CN', 'alternate', 'CN honest');
  await chartered(relay, 'CN-US', [us, stolen, honest]);
  // US stays offline until a test connects it.
  expect((await stolen.connect(relay.url)).type).toBe('welcome');
  expect((await honest.connect(relay.url)).type).toBe('welcome');
});

afterEach(async () => {
  for (const p of [us, stolen, honest]) p.close();
  await relay.dispose();
});

describe('fair queues', () => {
  it('refuses a stolen key flooding ROUTINE at its share with SENDER_QUOTA; FLASH and IMMEDIATE from it and from an honest PoC still arrive', async () => {
    const junk = await flood(stolen, 3 * SHARE, 'ROUTINE');
    expect(junk.slice(0, SHARE).map(codeOf)).toEqual(Array(SHARE).fill('accepted'));
    expect(junk.slice(SHARE).map(codeOf)).toEqual(Array(2 * SHARE).fill('SENDER_QUOTA'));
    const refused = junk[SHARE] as Extract<RelayMessage, { type: 'error' }>;
    expect(refused.rid).not.toBeNull();
    expect(refused.message).toMatch(/nothing was stored/);
    expect(refused.detail).toEqual({ recipient: us.identity.kid, share: SHARE, pending: SHARE, queue: 'bulk' });
    // PRIORITY shares the ROUTINE queue.
    expect(codeOf(await stolen.submit(stolen.envelope([us], { level: 'PRIORITY' })))).toBe('SENDER_QUOTA');

    // Another sender's ROUTINE is accepted within its own share.
    const honestRoutine = await flood(honest, 3, 'ROUTINE');
    expect(honestRoutine.map(codeOf)).toEqual(['accepted', 'accepted', 'accepted']);
    const urgent: string[] = [];
    for (const [peer, level] of [[honest, 'FLASH'], [honest, 'IMMEDIATE'], [stolen, 'FLASH'], [stolen, 'IMMEDIATE']] as const) {
      const envelope = peer.envelope([us], { level });
      expect(codeOf(await peer.submit(envelope)), `${peer.identity.kid === stolen.identity.kid ? 'stolen' : 'honest'} ${level}`).toBe('accepted');
      urgent.push(envelope.header.id);
    }
    expect(envelopeCount()).toBe(SHARE + 3 + 4);

    // US comes online: everything accepted is delivered, the FLASH and IMMEDIATE notices among it.
    expect((await us.connect(relay.url)).type).toBe('welcome');
    const delivered = new Set<string>();
    while (delivered.size < SHARE + 3 + 4) {
      const d = await us.next((m) => m.type === 'deliver', 10_000);
      if (d.type === 'deliver') delivered.add(d.envelope.header.id);
    }
    expect([...delivered]).toEqual(expect.arrayContaining(urgent));
    // Collected: the stolen key's share is free again (the counts follow confirmations).
    us.send({ type: 'confirm', ids: [...delivered] });
    us.send({ type: 'ping', rid: 'after-confirm' });
    await us.reply('after-confirm');
    await expect.poll(() => relay.store.pendingCount(us.identity.kid)).toBe(0);
    expect(codeOf(await stolen.submit(stolen.envelope([us], { level: 'ROUTINE' })))).toBe('accepted');
  });

  it('accepts FLASH and IMMEDIATE when ROUTINE and PRIORITY from other senders fill the recipient queue', async () => {
    // Five keys at their share fill the ROUTINE queue (5 × 10 = 50): the hard ceiling, PENDING_CAP for everyone.
    const flooders = [stolen, honest, await cnPeer('CN 3'), await cnPeer('CN 4'), await cnPeer('CN 5')];
    for (const [i, f] of flooders.entries()) expect((await flood(f, SHARE, i % 2 ? 'PRIORITY' : 'ROUTINE')).map(codeOf)).toEqual(Array(SHARE).fill('accepted'));
    const late = await cnPeer('CN late');
    expect(codeOf(await late.submit(late.envelope([us], { level: 'ROUTINE' })))).toBe('PENDING_CAP');
    // The urgent queue is apart: nobody's FLASH or IMMEDIATE is refused, the flooders' own included.
    for (const peer of [late, ...flooders]) {
      expect(codeOf(await peer.submit(peer.envelope([us], { level: 'FLASH' })))).toBe('accepted');
      expect(codeOf(await peer.submit(peer.envelope([us], { level: 'IMMEDIATE' })))).toBe('accepted');
    }
    late.close();
    for (const f of flooders.slice(2)) f.close();
  });

  it('gives FLASH and IMMEDIATE per-sender shares too: a stolen key flooding FLASH does not block an honest FLASH', async () => {
    const junk = await flood(stolen, 2 * SHARE, 'FLASH');
    expect(junk.map(codeOf)).toEqual([...Array(SHARE).fill('accepted'), ...Array(SHARE).fill('SENDER_QUOTA')]);
    const refused = junk[SHARE] as Extract<RelayMessage, { type: 'error' }>;
    expect(refused.detail).toMatchObject({ share: SHARE, queue: 'urgent' });
    // IMMEDIATE shares the FLASH queue.
    expect(codeOf(await stolen.submit(stolen.envelope([us], { level: 'IMMEDIATE' })))).toBe('SENDER_QUOTA');
    expect(codeOf(await honest.submit(honest.envelope([us], { level: 'FLASH' })))).toBe('accepted');
    // And its ROUTINE share is untouched by its FLASH flood.
    expect(codeOf(await stolen.submit(stolen.envelope([us], { level: 'ROUTINE' })))).toBe('accepted');
  });

  it('counts the queues again from the store after a restart: the flooder stays refused, the honest PoC is not', async () => {
    expect((await flood(stolen, SHARE + 1, 'ROUTINE')).map(codeOf).at(-1)).toBe('SENDER_QUOTA');
    const { dataDir } = relay;
    stolen.close();
    honest.close();
    await relay.close();
    relay = await startTestRelay({ dataDir, config: { limits: { pendingCap: PENDING_CAP } } });
    expect((await stolen.connect(relay.url)).type).toBe('welcome');
    expect((await honest.connect(relay.url)).type).toBe('welcome');
    expect(codeOf(await stolen.submit(stolen.envelope([us], { level: 'ROUTINE' })))).toBe('SENDER_QUOTA');
    expect(codeOf(await honest.submit(honest.envelope([us], { level: 'ROUTINE' })))).toBe('accepted');
    expect(envelopeCount()).toBe(SHARE + 1);
  });
});

describe('fair queues: store', () => {
  it('keeps the per-sender counts of a version 4 database through the upgrade (pending rows learn their sender and class)', () => {
    const dir = tempDir('fair-queues-v4');
    const path = join(dir, 'relay.db');
    try {
      new RelayStore(path).close();
      // Back to version 4: deliveries without sender or class, and envelopes still pending from two senders.
      const db = new Database(path);
      db.exec(`DROP INDEX deliveries_pending_by_sender; DROP TABLE deliveries;
        CREATE TABLE deliveries (kid TEXT NOT NULL, env_rowid INTEGER NOT NULL, queued_at INTEGER NOT NULL, delivered_at INTEGER, PRIMARY KEY (kid, env_rowid)) WITHOUT ROWID;
        CREATE INDEX deliveries_pending ON deliveries(kid, env_rowid) WHERE delivered_at IS NULL;
        UPDATE meta SET value = '4' WHERE key = 'schema_version';`);
      const envelope = db.prepare(
        `INSERT INTO envelopes (id, hash, channel, kind, from_kid, from_state, to_state, level, seq, created_at, accepted_at, refs_json, audit_seq, envelope_json, receipt_json)
         VALUES (?, 'h', 'CN-US', 'notice', ?, 'CN', 'US', ?, ?, 0, 0, '[]', 0, '{}', '{}')`,
      );
      const delivery = db.prepare('INSERT INTO deliveries (kid, env_rowid, queued_at, delivered_at) VALUES (?, ?, 0, ?)');
      const rows: [string, Level, number | null][] = [['stolen', 'ROUTINE', null], ['stolen', 'ROUTINE', null], ['stolen', 'FLASH', null], ['stolen', 'ROUTINE', 5], ['honest', 'PRIORITY', null]];
      for (const [i, [from, level, deliveredAt]] of rows.entries()) delivery.run('us', Number(envelope.run(`id-${i}`, from, level, i + 1).lastInsertRowid), deliveredAt);
      db.close();

      const store = new RelayStore(path);
      expect(store.getMeta('schema_version')).toBe('5');
      expect(store.pendingFrom('us', 'stolen', false)).toEqual({ total: 3, fromSender: 2 });
      expect(store.pendingFrom('us', 'stolen', true)).toEqual({ total: 1, fromSender: 1 });
      expect(store.pendingFrom('us', 'honest', false)).toEqual({ total: 3, fromSender: 1 });
      expect(store.pendingCount('us')).toBe(4);
      // A confirmation after the upgrade frees the right sender's share.
      expect(store.confirmDelivery('us', 1, 10)).toBe(true);
      expect(store.pendingFrom('us', 'stolen', false)).toEqual({ total: 2, fromSender: 1 });
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
