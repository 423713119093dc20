// The relay's side of the evidence model: sender chains it refuses to break, chain.get answers that prove a gap innocent, witness statements it appends or refuses, and relay events it signs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CHAIN_GENESIS,
  createIdentity,
  digestFromParts,
  initCrypto,
  relayMessageSchema,
  signWitness,
  verifyReceipt,
  verifyRelayEvent,
  verifySignedParts,
  type Envelope,
  type RelayMessage,
} from '../../shared/index.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

type Msg<T extends RelayMessage['type']> = Extract<RelayMessage, { type: T }>;

let relay: TestRelay;
let us: RawPeer;
let cn: RawPeer;
let cnAlt: RawPeer;

beforeEach(async () => {
  await initCrypto();
  relay = await startTestRelay();
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH: 120_000 } });
  us = await RawPeer.enrol(relay, 'US');
  cn = await RawPeer.enrol(relay, 'CN');
  cnAlt = await RawPeer.enrol(relay, 'CN', 'alternate');
  await chartered(relay, 'CN-US', [us, cn, cnAlt], { deadlines: { FLASH: 120_000 } });
  for (const p of [us, cn, cnAlt]) await p.connect(relay.url);
});

afterEach(async () => {
  for (const p of [us, cn, cnAlt]) p.close();
  await relay.dispose();
});

async function accepted(p: Promise<Msg<'accepted'> | Msg<'error'>>): Promise<Msg<'accepted'>> {
  const reply = await p;
  if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
  return reply;
}

const auditHead = () => relay.store.auditHead()?.seq ?? 0;

async function request<T extends RelayMessage['type']>(peer: RawPeer, message: Record<string, unknown> & { rid: string }): Promise<Msg<T> | Msg<'error'>> {
  peer.send(message);
  return (await peer.next((m) => 'rid' in m && m.rid === message.rid)) as Msg<T> | Msg<'error'>;
}

describe('sender chain at the relay', () => {
  it('accepts 1, 2 linked; refuses a gap, a wrong prev and an unchained envelope after a chain with CHAIN_BROKEN and its head, storing nothing', async () => {
    const first = await accepted(us.submit(us.envelope([cn, cnAlt], { chanSeq: 1, prev: CHAIN_GENESIS })));
    const sent2Prev = first.receipt.hash.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    expect(first.receipt.auditHash).toBe(relay.store.auditHashAt(first.receipt.auditSeq));
    const before = auditHead();
    const gap = await us.submit(us.envelope([cn, cnAlt], { chanSeq: 3, prev: first.receipt.hash }));
    expect(gap).toMatchObject({ type: 'error', code: 'CHAIN_BROKEN', detail: { channel: 'CN-US', chanSeq: 1, hash: first.receipt.hash } });
    expect(await us.submit(us.envelope([cn, cnAlt], { chanSeq: 2, prev: sent2Prev }))).toMatchObject({ code: 'CHAIN_BROKEN' });
    expect(await us.submit(us.envelope([cn, cnAlt]))).toMatchObject({ code: 'CHAIN_BROKEN' });
    expect(auditHead()).toBe(before);
    const second = await accepted(us.submit(us.envelope([cn, cnAlt], { chanSeq: 2, prev: first.receipt.hash })));
    expect(second.receipt.auditSeq).toBe(before + 1);
  });

  it('answers chain.get with whole envelopes for a recipient, signed parts for a member that was not one, and the chanSeqs it has not', async () => {
    const one = await accepted(us.submit(us.envelope([cn], { chanSeq: 1, prev: CHAIN_GENESIS })));
    await accepted(us.submit(us.envelope([cn, cnAlt], { chanSeq: 2, prev: one.receipt.hash })));
    const ask = { type: 'chain.get', channel: 'CN-US', from: us.identity.kid, first: 1, last: 3 };
    const forCn = await request<'chain'>(cn, { ...ask, rid: 'c1' });
    if (forCn.type !== 'chain') throw new Error(JSON.stringify(forCn));
    expect(forCn.items.map((i) => i.envelope !== null)).toEqual([true, true]);
    expect(forCn.missing).toEqual([3]);
    const forAlt = await request<'chain'>(cnAlt, { ...ask, rid: 'c2' });
    if (forAlt.type !== 'chain') throw new Error(JSON.stringify(forAlt));
    const stub = forAlt.items[0]!;
    expect(stub.envelope).toBeNull();
    // The stub proves itself: the sender's signature, the envelope hash in the relay's signed receipt, and cnAlt not among its recipients.
    verifySignedParts(stub.header, stub.recipients, stub.bodyHash, stub.sig);
    expect(digestFromParts(stub.header, stub.recipients, stub.bodyHash, stub.sig)).toBe(stub.receipt.hash);
    verifyReceipt(stub.receipt, relay.identity.kid);
    expect(stub.recipients.map((r) => r.kid)).not.toContain(cnAlt.identity.kid);
    expect(forAlt.items[1]!.envelope).not.toBeNull();
    expect(await request(cn, { ...ask, rid: 'c3', channel: 'RU-US' })).toMatchObject({ code: 'NOT_CHANNEL_MEMBER' });
    // A director that the channel's charter does not name reads no chain there.
    const director = await RawPeer.enrol(relay, 'US', 'director');
    await director.connect(relay.url);
    expect(await request(director, { ...ask, rid: 'c5' })).toMatchObject({ code: 'NOT_CHANNEL_MEMBER' });
    director.close();
    expect(await request(cn, { ...ask, rid: 'c4', last: 400 })).toMatchObject({ code: 'BAD_INPUT' });
  });
});

describe('bounds on the evidence requests', () => {
  it('accepts a v3 envelope that continues its chain with a seq below one accepted since (a relay catching up after sends elsewhere)', async () => {
    // seq counts across channels: a relay that was down gets the missed link after the sender's newer sends on other channels.
    const one = await accepted(us.submit(us.envelope([cn, cnAlt], { chanSeq: 1, prev: CHAIN_GENESIS, seq: 10 })));
    const resent = await accepted(us.submit(us.envelope([cn, cnAlt], { chanSeq: 2, prev: one.receipt.hash, seq: 5 })));
    expect(resent.receipt.auditSeq).toBeGreaterThan(one.receipt.auditSeq);
    expect(relay.store.lastSeq(us.identity.kid)).toBe(10);
    // Not a way round replay protection: the same link again is a broken chain.
    expect(await us.submit(us.envelope([cn, cnAlt], { chanSeq: 2, prev: one.receipt.hash, seq: 6 }))).toMatchObject({ code: 'CHAIN_BROKEN' });
  });

  it('limits chain.get and witness statements per connection (RATE_LIMITED), and lists only links beyond the head as missing', async () => {
    const one = await accepted(us.submit(us.envelope([cn, cnAlt], { chanSeq: 1, prev: CHAIN_GENESIS })));
    const ask = { type: 'chain.get', channel: 'CN-US', from: us.identity.kid, first: 1, last: 5 };
    const answer = await request<'chain'>(cn, { ...ask, rid: 'm0' });
    expect(answer).toMatchObject({ type: 'chain', missing: [2, 3, 4, 5] });
    const codes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await request(cn, { ...ask, rid: `r${i}` });
      codes.push(r.type === 'error' ? r.code : r.type);
    }
    expect(codes).toContain('RATE_LIMITED');
    const fields = { relay: relay.identity.kid, state: 'CN', seq: one.receipt.auditSeq, head: one.receipt.auditHash as string, at: Date.now() };
    const witnessCodes: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await request(cn, { type: 'witness', rid: `w${i}`, statement: signWitness(cn.identity, { ...fields, at: fields.at + i }) });
      witnessCodes.push(r.type === 'error' ? r.code : r.type);
    }
    expect(witnessCodes).toContain('RATE_LIMITED');
    expect(relay.store.db.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE type = 'witness'").get()).toEqual({ n: 1 });
  });
});

describe('witness statements at the relay', () => {
  it('appends a statement of the chain as it is; refuses another head, another key, a forged signature and a seq beyond the head', async () => {
    const sent = await accepted(us.submit(us.envelope([cn, cnAlt])));
    const fields = { relay: relay.identity.kid, state: 'CN', seq: sent.receipt.auditSeq, head: sent.receipt.auditHash as string, at: Date.now() };
    const before = auditHead();
    expect(await request(cn, { type: 'witness', rid: 'w1', statement: signWitness(cn.identity, fields) })).toMatchObject({ type: 'ok' });
    const event = relay.store.auditHead();
    expect(event).toMatchObject({ seq: before + 1, type: 'witness', data: { kid: cn.identity.kid, state: 'CN', seq: fields.seq, head: fields.head } });
    const wrongHead = signWitness(cn.identity, { ...fields, seq: fields.seq + 1 });
    expect(await request(cn, { type: 'witness', rid: 'w2', statement: wrongHead })).toMatchObject({ code: 'WITNESS_MISMATCH' });
    expect(await request(cn, { type: 'witness', rid: 'w3', statement: signWitness(cn.identity, { ...fields, seq: 10_000 }) })).toMatchObject({ code: 'WITNESS_MISMATCH' });
    expect(await request(cn, { type: 'witness', rid: 'w4', statement: signWitness(cnAlt.identity, fields) })).toMatchObject({ code: 'WRONG_STATE' });
    const forged = { ...signWitness(createIdentity(), fields), kid: cn.identity.kid };
    expect(await request(cn, { type: 'witness', rid: 'w5', statement: forged })).toMatchObject({ code: 'BAD_SIGNATURE' });
    expect(auditHead()).toBe(before + 1);
  });
});

describe('signed relay events', () => {
  it('signs the check event each device gets; an altered one no longer verifies', async () => {
    const seen = cn.next((m) => m.type === 'event');
    await adminCall(relay, 'POST', '/checks', { state: 'CN', withinMs: 60_000 });
    const msg = relayMessageSchema.parse(await seen);
    if (msg.type !== 'event') throw new Error('no event');
    verifyRelayEvent(msg.event, relay.identity.kid);
    expect(msg.event.auditHash).toBe(relay.store.auditHashAt(msg.event.auditSeq));
    expect(() => verifyRelayEvent({ ...msg.event, data: { ...msg.event.data, withinMs: 1 } }, relay.identity.kid)).toThrow(/does not verify/);
    expect(() => verifyRelayEvent({ ...msg.event, sig: undefined }, relay.identity.kid)).toThrow(/not signed/);
    expect(() => verifyRelayEvent(msg.event, createIdentity().kid)).toThrow(/another relay/);
  });
});

export type { Envelope };
