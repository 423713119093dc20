import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createIdentity,
  envelopeSchema,
  initCrypto,
  kemKeyPair,
  limits,
  signStatement,
  openEnvelope,
  verifyAuditChain,
  verifyReceipt,
  type Envelope,
  type RelayMessage,
} from '../../shared/index.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered, installRosters } from '../helpers/trust.ts';

type Deliver = Extract<RelayMessage, { type: 'deliver' }>;

let relay: TestRelay;
let us: RawPeer;
let cn: RawPeer;
let cnAlt: RawPeer;

function envelopeCount(r: TestRelay = relay): number {
  return (r.store.db.prepare('SELECT COUNT(*) AS n FROM envelopes').get() as { n: number }).n;
}

async function expectError(p: Promise<RelayMessage>, code: string): Promise<void> {
  const reply = await p;
  expect(reply.type === 'error' ? reply.code : reply.type).toBe(code);
}

function secretsOf(p: RawPeer) {
  const kemKeys = new Map(p.prekey.kemSeed === null ? [] : [[p.prekey.prekey.prekeyId, kemKeyPair(p.prekey.kemSeed)] as const]);
  return { kid: p.identity.kid, prekeySecrets: new Map([[p.prekey.prekey.prekeyId, p.prekey.secretKey]]), kemKeys };
}

beforeEach(async () => {
  await initCrypto();
  relay = await startTestRelay();
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH: 120_000 } });
  us = await RawPeer.enrol(relay, 'US');
  cn = await RawPeer.enrol(relay, 'CN');
  cnAlt = await RawPeer.enrol(relay, 'CN', 'alternate');
  await chartered(relay, 'CN-US', [us, cn, cnAlt], { deadlines: { FLASH: 120_000 } });
});

afterEach(async () => {
  for (const p of [us, cn, cnAlt]) p.close();
  await relay.dispose();
});

describe('relay', () => {
  it('delivers a notice to both CN devices, which open it; the sender holds a verifiable receipt with the deadline', async () => {
    for (const p of [us, cn, cnAlt]) expect((await p.connect(relay.url)).type).toBe('welcome');
    const env = us.envelope([cn, cnAlt], {}, 'Scanning from a US-registered range');
    const reply = await us.submit(env);
    if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
    expect(reply.duplicate).toBe(false);
    verifyReceipt(reply.receipt, relay.identity.kid);
    expect(reply.receipt.ackDeadline).toBe(reply.receipt.acceptedAt + 120_000);
    for (const p of [cn, cnAlt]) {
      const d = (await p.next((m) => m.type === 'deliver')) as Deliver;
      expect(d.receipt).toEqual(reply.receipt);
      expect(openEnvelope(d.envelope, secretsOf(p)).content.text).toBe('Scanning from a US-registered range');
    }
  });

  it('gives an offline recipient everything pending, in order, when it reconnects, and nothing twice once confirmed', async () => {
    await us.connect(relay.url);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const env = us.envelope([cn], {}, `notice ${i}`);
      ids.push(env.header.id);
      expect((await us.submit(env)).type).toBe('accepted');
    }
    await cn.connect(relay.url);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(((await cn.next((m) => m.type === 'deliver')) as Deliver).envelope.header.id);
    expect(got).toEqual(ids);
    cn.send({ type: 'confirm', ids: ids.slice(0, 3) });
    await new Promise((r) => setTimeout(r, 100));
    cn.close();
    await cn.connect(relay.url);
    const again: string[] = [];
    for (let i = 0; i < 2; i++) again.push(((await cn.next((m) => m.type === 'deliver')) as Deliver).envelope.header.id);
    expect(again).toEqual(ids.slice(3));
    await expect(cn.next((m) => m.type === 'deliver', 300)).rejects.toThrow(/timed out/);
  });

  it('refuses a forged signature and stores nothing', async () => {
    await us.connect(relay.url);
    const env = us.envelope([cn]);
    const forged: Envelope = { ...env, header: { ...env.header, level: 'ROUTINE' } };
    await expectError(us.submit(forged), 'BAD_SIGNATURE');
    expect(envelopeCount()).toBe(0);
  });

  it('refuses a replayed id with other content and a non-increasing seq; a resend of the same envelope is idempotent', async () => {
    await us.connect(relay.url);
    const env = us.envelope([cn]);
    const first = await us.submit(env);
    expect(first.type).toBe('accepted');
    const resend = await us.submit(env, 'resend');
    expect(resend).toMatchObject({ type: 'accepted', duplicate: true });
    if (first.type === 'accepted' && resend.type === 'accepted') expect(resend.receipt).toEqual(first.receipt);
    const sameId = us.envelope([cn], { id: env.header.id });
    await expectError(us.submit(sameId, 'x1'), 'REPLAY_ID');
    const oldSeq = us.envelope([cn], { seq: 1 });
    await expectError(us.submit(oldSeq, 'x2'), 'SEQ_NOT_INCREASING');
    expect(envelopeCount()).toBe(1);
  });

  it('refuses an unenrolled key at auth and closes the socket', async () => {
    const stranger = new RawPeer(us.identity, us.prekey, 'US', 'poc');
    const unknown = await RawPeer.enrol(relay, 'US');
    const impostor = new RawPeer({ ...unknown.identity, kid: cn.identity.kid.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, unknown.prekey, 'US', 'poc');
    const reply = await impostor.connect(relay.url);
    expect(reply).toMatchObject({ type: 'error', code: 'UNKNOWN_KEY' });
    await new Promise((r) => setTimeout(r, 50));
    expect(impostor.closeCode).toBe(4403);
    const wrongSig = await stranger.connect(relay.url, cn.identity);
    expect(wrongSig).toMatchObject({ type: 'error', code: 'AUTH_FAILED' });
  });

  it('refuses a revoked key, and cuts its live connection', async () => {
    await cn.connect(relay.url);
    await adminCall(relay, 'POST', '/revoke', { kid: cn.identity.kid, reason: 'laptop lost' });
    await expect(cn.next((m) => m.type === 'error')).resolves.toMatchObject({ code: 'REVOKED_KEY' });
    await new Promise((r) => setTimeout(r, 50));
    expect(cn.closeCode).toBe(4403);
    expect(await cn.connect(relay.url)).toMatchObject({ type: 'error', code: 'REVOKED_KEY' });
    await us.connect(relay.url);
    await expectError(us.submit(us.envelope([cn])), 'NOT_CHANNEL_MEMBER');
    expect(envelopeCount()).toBe(0);
  });

  it('refuses a reviewer on the notice stream with WRONG_ROLE', async () => {
    const reviewer = await RawPeer.enrol(relay, 'OSCE', 'reviewer');
    expect(await reviewer.connect(relay.url)).toMatchObject({ type: 'error', code: 'WRONG_ROLE' });
  });

  it('refuses wrong channels, a state the sender does not belong to, and recipients outside the channel', async () => {
    const ru = await RawPeer.enrol(relay, 'RU');
    await ru.connect(relay.url);
    await us.connect(relay.url);
    await expectError(ru.submit(ru.envelope([cn], { channel: 'CN-RU', toState: 'CN' })), 'UNKNOWN_CHANNEL');
    // Standing comes from the signed rosters: a key claiming a state whose roster does not list it, or addressing a
    // key no roster of the channel lists, is refused as NOT_IN_ROSTER before the enrolment is consulted.
    await expectError(ru.submit(ru.envelope([cn], { channel: 'CN-US', fromState: 'US', toState: 'CN' })), 'NOT_IN_ROSTER');
    await expectError(us.submit(us.envelope([cn], { channel: 'CN-US', fromState: 'CN', toState: 'US' })), 'NOT_IN_ROSTER');
    await expectError(us.submit(us.envelope([cn, ru])), 'NOT_IN_ROSTER');
    expect(envelopeCount()).toBe(0);
    // The operator's enrolment must agree with the roster as well: a key the CN roster lists but the relay enrolled
    // under another state still cannot send as CN.
    await installRosters(relay, [
      { state: 'CN', kid: ru.identity.kid, name: 'CN listed RU key' },
      { state: 'CN', kid: us.identity.kid, name: 'CN listed US key' },
    ]);
    await expectError(ru.submit(ru.envelope([us], { channel: 'CN-US', fromState: 'CN', toState: 'US' })), 'NOT_CHANNEL_MEMBER');
    await expectError(us.submit(us.envelope([cn], { channel: 'CN-US', fromState: 'CN', toState: 'US' })), 'WRONG_STATE');
    expect(envelopeCount()).toBe(0);
    ru.close();
  });

  it('answers an oversized frame with FRAME_TOO_LARGE and malformed frames with BAD_FRAME / BAD_SCHEMA, and stays up', async () => {
    await us.connect(relay.url);
    us.sendRaw('x'.repeat(limits.maxFrameBytes + 1024));
    await expect(us.next((m) => m.type === 'error')).resolves.toMatchObject({ code: 'FRAME_TOO_LARGE' });
    us.sendRaw('{not json');
    await expect(us.next((m) => m.type === 'error')).resolves.toMatchObject({ code: 'BAD_FRAME' });
    us.send({ type: 'send', rid: 'r1', envelope: { header: {} } });
    await expect(us.reply('r1')).resolves.toMatchObject({ code: 'BAD_SCHEMA' });
    const ok = await us.submit(us.envelope([cn]));
    expect(ok.type).toBe('accepted');
    expect(envelopeCount()).toBe(1);
  });

  it('tells the sender PENDING_CAP when a recipient holds too many undelivered envelopes', async () => {
    await relay.dispose();
    relay = await startTestRelay({ config: { limits: { pendingCap: 3 } } });
    await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US' });
    us = await RawPeer.enrol(relay, 'US');
    cn = await RawPeer.enrol(relay, 'CN');
    await chartered(relay, 'CN-US', [us, cn]);
    await us.connect(relay.url);
    for (let i = 0; i < 3; i++) expect((await us.submit(us.envelope([cn]))).type).toBe('accepted');
    const refused = await us.submit(us.envelope([cn]));
    expect(refused).toMatchObject({ type: 'error', code: 'PENDING_CAP' });
    if (refused.type === 'error') expect(refused.message).toMatch(/nothing was stored/);
    expect(envelopeCount()).toBe(3);
  });

  it('rate-limits a flooding connection with RATE_LIMITED', async () => {
    await relay.dispose();
    relay = await startTestRelay({ config: { limits: { ratePerSec: 5, rateBurst: 5 } } });
    us = await RawPeer.enrol(relay, 'US');
    await us.connect(relay.url);
    for (let i = 0; i < 20; i++) us.send({ type: 'ping', rid: `p${i}` });
    await expect(us.next((m) => m.type === 'error' && m.code === 'RATE_LIMITED')).resolves.toBeTruthy();
  });

  it('closes a connection that does not authenticate in time', async () => {
    await relay.dispose();
    relay = await startTestRelay({ config: { limits: { authTimeoutMs: 200 } } });
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${relay.url}/v1/ws`);
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    expect(code).toBe(4408);
  });

  it('keeps everything across a restart: pending deliveries, replay protection, and an audit chain that verifies', async () => {
    await us.connect(relay.url);
    const env = us.envelope([cn]);
    expect((await us.submit(env)).type).toBe('accepted');
    us.close();
    await relay.close();
    const dataDir = relay.dataDir;
    relay = await startTestRelay({ dataDir });
    await cn.connect(relay.url);
    const d = (await cn.next((m) => m.type === 'deliver')) as Deliver;
    expect(d.envelope).toEqual(envelopeSchema.parse(env));
    await us.connect(relay.url);
    await expectError(us.submit(us.envelope([cn], { seq: 1 })), 'SEQ_NOT_INCREASING');
    cn.send({ type: 'confirm', ids: [env.header.id] });
    await new Promise((r) => setTimeout(r, 100));
    relay.context.acceptContext.audit.checkpointIfDue(true);
    const events = relay.store.auditEvents(1, 10_000);
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['channel.opened', 'enrolled', 'envelope.notice', 'delivered']));
    const result = verifyAuditChain(events, relay.store.checkpoints(), relay.identity.kid);
    expect(result.signedThrough).toBe(events.length);
  });

  it('never writes a notice plaintext to any file under its data dir', async () => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}-PLAINTEXT`;
    await us.connect(relay.url);
    await cn.connect(relay.url);
    for (let i = 0; i < 3; i++) expect((await us.submit(us.envelope([cn], {}, `${canary} ${i}`))).type).toBe('accepted');
    await cn.next((m) => m.type === 'deliver');
    relay.store.db.pragma('wal_checkpoint(PASSIVE)');
    const files = readdirSync(relay.dataDir);
    expect(files).toEqual(expect.arrayContaining(['relay.db', 'relay.key', 'admin.token']));
    for (const f of files) {
      const bytes = readFileSync(join(relay.dataDir, f));
      expect(bytes.includes(Buffer.from('CANARY-'))).toBe(false);
    }
  });
});

describe('relay admin and join', () => {
  it('refuses admin calls without or with a wrong token', async () => {
    for (const auth of [undefined, 'Bearer wrong']) {
      const res = await fetch(`${relay.httpUrl}/v1/admin/roster`, { headers: auth ? { authorization: auth } : {} });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
  });

  it('makes invites one-time and expiring', async () => {
    const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state: 'US', ttlMs: 1000 });
    const joinWith = async (code: string) => {
      const id = createIdentity();
      const sig = signStatement(id, 'hotline-join-v1', { invite: code, kid: id.kid, name: 'x' });
      const res = await fetch(`${relay.httpUrl}/v1/join`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ invite: code, kid: id.kid, name: 'x', prekey: null, sig }),
      });
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
    };
    expect((await joinWith(invite)).status).toBe(201);
    expect((await joinWith(invite)).body.error?.code).toBe('INVITE_USED');
    expect((await joinWith('HL-not-a-real-invite')).body.error?.code).toBe('INVITE_INVALID');
    const short = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state: 'US', ttlMs: 1000 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await joinWith(short.invite)).body.error?.code).toBe('INVITE_EXPIRED');
  });

  it('lists the roster with fingerprints and serves /healthz and /metrics', async () => {
    const roster = await adminCall<{ states: { code: string; members: { fingerprint: string }[] }[] }>(relay, 'GET', '/roster');
    expect(roster.states.map((s) => s.code)).toEqual(['CN', 'US']);
    expect(roster.states[0]?.members[0]?.fingerprint).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(await (await fetch(`${relay.httpUrl}/healthz`)).json()).toMatchObject({ ok: true });
    const metrics = await (await fetch(`${relay.httpUrl}/metrics`, { headers: { authorization: `Bearer ${relay.metricsToken}` } })).text();
    expect(metrics).toContain('hotline_commit_seconds');
    expect(metrics).toContain('hotline_rejected_total');
  });
});
