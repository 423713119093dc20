// Ill-formed Unicode from outside (lone surrogates, which canonical JSON cannot encode): refused as bad input over HTTP and WebSocket, never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHash, canonicalJson, createIdentity, initCrypto, signStatement, verifyAuditChain } from '../../shared/index.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';

/** Lone surrogates as JSON writes them (\ud800): what a hostile client sends, since UTF-8 bytes cannot carry one. */
const LONE = ['\ud800', 'a\udc00b', 'x\udbff', '\udfff\ud800'];

let relay: TestRelay;

/** POSTs `body`, written by hand so that lone surrogates go out as JSON escapes. */
async function post(path: string, body: Record<string, unknown>, token: string | null = null): Promise<{ status: number; code: string | undefined; message: string }> {
  const res = await fetch(`${relay.httpUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: json.error?.code, message: json.error?.message ?? '' };
}

function auditEvents(type: string | null = null): number {
  return (relay.store.db.prepare('SELECT COUNT(*) AS n FROM audit_events WHERE ? IS NULL OR type = ?').get(type, type) as { n: number }).n;
}

function members(): number {
  return (relay.store.db.prepare('SELECT COUNT(*) AS n FROM members').get() as { n: number }).n;
}

beforeAll(async () => {
  await initCrypto();
  relay = await startTestRelay();
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US' });
});

afterAll(async () => {
  await relay.dispose();
});

describe('canonical JSON', () => {
  it('throws BAD_INPUT (a HotlineError), not a plain Error, for a lone surrogate in a value or a key', () => {
    for (const bad of LONE) {
      expect(() => canonicalJson({ name: bad })).toThrow(expect.objectContaining({ name: 'HotlineError', code: 'BAD_INPUT' }));
      expect(() => canonicalHash({ [bad]: 1 })).toThrow(expect.objectContaining({ name: 'HotlineError', code: 'BAD_INPUT' }));
    }
    // A well-formed pair (an emoji) is fine.
    expect(canonicalJson({ name: 'PoC \ud83d\udcde' })).toBe('{"name":"PoC 📞"}');
  });
});

describe('relay HTTP: ill-formed Unicode is a 400, never a 500', () => {
  it('refuses POST /v1/join with a lone surrogate in the name or the invite, and enrols nobody', async () => {
    const before = { members: members(), enrolled: auditEvents('enrolled') };
    for (const bad of LONE) {
      const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state: 'US' });
      const identity = createIdentity();
      for (const body of [
        { invite, kid: identity.kid, name: `PoC ${bad}` },
        { invite: `${invite}${bad}`, kid: identity.kid, name: 'PoC' },
      ]) {
        // The signature cannot even be made over such a name (canonical JSON refuses it): sign a stand-in.
        const sig = signStatement(identity, 'hotline-join-v1', { invite: 'stand-in', kid: identity.kid, name: 'stand-in' });
        const reply = await post('/v1/join', { ...body, prekey: null, sig });
        expect(reply, JSON.stringify(body)).toMatchObject({ status: 400, code: 'BAD_SCHEMA' });
        expect(reply.message).toMatch(/Unicode/);
      }
    }
    expect({ members: members(), enrolled: auditEvents('enrolled') }).toEqual(before);
  });

  it('refuses admin requests whose text goes into the audit chain (invite name, revoke reason) with a lone surrogate', async () => {
    const us = await RawPeer.enrol(relay, 'US');
    const before = auditEvents();
    expect(await post('/v1/admin/invites', { state: 'US', name: 'PoC \ud800' }, relay.adminToken)).toMatchObject({ status: 400, code: 'BAD_SCHEMA' });
    expect(await post('/v1/admin/revoke', { kid: us.identity.kid, reason: 'lost \udc00 laptop' }, relay.adminToken)).toMatchObject({ status: 400, code: 'BAD_SCHEMA' });
    expect(auditEvents()).toBe(before);
    expect(relay.store.getMember(us.identity.kid)?.revokedAt).toBeNull();
    // The chain is whole, and the relay still works.
    expect(() => verifyAuditChain(relay.store.auditEvents(1, auditEvents()), relay.store.checkpoints(), relay.identity.kid)).not.toThrow();
    expect((await post('/v1/admin/revoke', { kid: us.identity.kid, reason: 'lost laptop' }, relay.adminToken)).status).toBe(200);
  });
});

describe('relay WebSocket: ill-formed Unicode in a text that is canonicalised', () => {
  it('answers drill.start with a lone surrogate in its name with BAD_SCHEMA under its rid, and keeps the connection', async () => {
    const director = await RawPeer.enrol(relay, 'US', 'director');
    expect((await director.connect(relay.url)).type).toBe('welcome');
    const before = auditEvents();
    for (const [i, bad] of LONE.entries()) {
      director.send({ type: 'drill.start', rid: `d${i}`, drillId: `drill-${i}`, name: `exercise ${bad}`, channel: 'CN-US', timeScale: 1, deadlines: {} });
      await expect(director.reply(`d${i}`)).resolves.toMatchObject({ type: 'error', code: 'BAD_SCHEMA', message: expect.stringMatching(/Unicode/) });
    }
    expect(relay.store.getDrill('drill-0')).toBeNull();
    expect(auditEvents()).toBe(before);
    director.send({ type: 'drill.start', rid: 'ok', drillId: 'drill-ok', name: 'exercise 📞', channel: 'CN-US', timeScale: 1, deadlines: {} });
    await expect(director.reply('ok')).resolves.toMatchObject({ type: 'ok' });
    director.close();
  });
});
