// The relay store: schema migration from version 1, and the cached pending counts staying true across rollbacks.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, createPrekey, defaultEscalationPolicy, deadlineTable, initCrypto, buildEnvelope, uuidv7 } from '../../shared/index.ts';
import { RelayStore } from '../../server/store.ts';
import { tempDir } from '../helpers/relay.ts';

const dirs: string[] = [];

beforeAll(initCrypto);

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('store', () => {
  it('opens a version 1 database: channels get the default escalation policy, and the new tables exist', () => {
    const dir = tempDir('store');
    dirs.push(dir);
    const path = join(dir, 'relay.db');
    const old = new RelayStore(path);
    old.openChannel('CN-US', 'CN', 'US', deadlineTable(), defaultEscalationPolicy, 1);
    // Make it look like a version 1 database: no escalation column, version 1.
    old.db.exec('ALTER TABLE channels DROP COLUMN escalation_json');
    old.setMeta('schema_version', '1');
    old.close();
    const store = new RelayStore(path);
    expect(store.getMeta('schema_version')).toBe('5');
    expect(store.escalationPolicyOf('CN-US')).toEqual(defaultEscalationPolicy);
    expect(store.openEscalationSteps(null, 10)).toEqual([]);
    store.close();
  });

  it('keeps pending counts (per recipient and in all) true through confirms and a transaction that rolls back', () => {
    const store = new RelayStore(':memory:');
    const us = createIdentity();
    const cn = createIdentity();
    const cnPrekey = createPrekey(cn, Date.now());
    store.openChannel('CN-US', 'CN', 'US', deadlineTable(), defaultEscalationPolicy, 1);
    const insert = (seq: number) => {
      const envelope = buildEnvelope({
        sender: us,
        header: { id: uuidv7(Date.now()), channel: 'CN-US', kind: 'notice', fromState: 'US', toState: 'CN', level: 'FLASH', drill: null, seq, createdAt: 1, refs: [] },
        content: { subject: null, text: 'x' },
        recipients: [{ kid: cn.kid, prekey: cnPrekey.prekey }],
        now: Date.now(),
      });
      store.insertEnvelope({ envelope, envelopeJson: '{}', receiptJson: '{}', hash: 'h', acceptedAt: 1, ackDeadline: null, auditSeq: 1, deliverTo: [cn.kid] });
    };
    expect(store.pendingCount(cn.kid)).toBe(0);
    expect(store.totalPending()).toBe(0);
    store.transaction(() => insert(1));
    expect(store.pendingCount(cn.kid)).toBe(1);
    expect(store.totalPending()).toBe(1);
    expect(() =>
      store.transaction(() => {
        insert(2);
        expect(store.totalPending()).toBe(2);
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    expect(store.pendingCount(cn.kid)).toBe(1);
    expect(store.totalPending()).toBe(1);
    store.transaction(() => insert(3));
    expect(store.totalPending()).toBe(2);
    const [first] = store.pendingFor(cn.kid, 0, 1);
    store.transaction(() => store.confirmDelivery(cn.kid, first?.rowid ?? -1, 2));
    expect(store.totalPending()).toBe(1);
    expect(store.pendingCount(cn.kid)).toBe(1);
    store.close();
  });
});
