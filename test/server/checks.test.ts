import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initCrypto, signStatement, type RelayMessage } from '../../shared/index.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';

type RelayEvent = Extract<RelayMessage, { type: 'event' }>;
interface Status {
  checkId: string;
  deadline: number;
  answered: number;
  missing: number;
  endedAt: number | null;
  targets: { kid: string; receivedAt: number | null; ackedAt: number | null; answered: boolean; late: boolean }[];
}

let relay: TestRelay;
let us: RawPeer;
let cn: RawPeer;
let cnAlt: RawPeer;

function answer(p: RawPeer, checkId: string, kind: 'receipt' | 'ack', rid?: string): void {
  const sig = signStatement(p.identity, `hotline-check-${kind}-v1`, { checkId, kid: p.identity.kid, relay: relay.identity.kid });
  p.send(kind === 'ack' ? { type: 'check.ack', rid, checkId, sig } : { type: 'check.receipt', checkId, sig });
}

beforeEach(async () => {
  await initCrypto();
  relay = await startTestRelay();
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US' });
  us = await RawPeer.enrol(relay, 'US');
  cn = await RawPeer.enrol(relay, 'CN');
  cnAlt = await RawPeer.enrol(relay, 'CN', 'alternate');
});

afterEach(async () => {
  for (const p of [us, cn, cnAlt]) p.close();
  await relay.dispose();
});

describe('communication checks', () => {
  it('asks every PoC, records signed device receipts and people acks, and names who did not answer', async () => {
    await us.connect(relay.url);
    await cn.connect(relay.url);
    const started = await adminCall<Status>(relay, 'POST', '/checks', { withinMs: 60_000 });
    expect(started.targets).toHaveLength(3);
    for (const p of [us, cn]) {
      const e = (await p.next((m) => m.type === 'event' && m.event.kind === 'check')) as RelayEvent;
      expect(e.event.data).toMatchObject({ checkId: started.checkId, deadline: started.deadline });
      answer(p, started.checkId, 'receipt');
    }
    answer(us, started.checkId, 'ack', 'a1');
    await expect(us.reply('a1')).resolves.toMatchObject({ type: 'ok' });
    const status = await adminCall<Status>(relay, 'GET', `/checks/${started.checkId}`);
    const byKid = new Map(status.targets.map((t) => [t.kid, t]));
    expect(byKid.get(us.identity.kid)).toMatchObject({ answered: true });
    expect(byKid.get(cn.identity.kid)?.receivedAt).not.toBeNull();
    expect(byKid.get(cn.identity.kid)).toMatchObject({ answered: false, ackedAt: null });
    expect(byKid.get(cnAlt.identity.kid)).toMatchObject({ answered: false, receivedAt: null });
    expect(status).toMatchObject({ answered: 1, missing: 2 });
  });

  it('delivers the check to a PoC that was offline when it started, and refuses a forged answer', async () => {
    const started = await adminCall<Status>(relay, 'POST', '/checks', { state: 'CN', withinMs: 60_000 });
    expect(started.targets.map((t) => t.kid).sort()).toEqual([cn.identity.kid, cnAlt.identity.kid].sort());
    await cnAlt.connect(relay.url);
    await cnAlt.next((m) => m.type === 'event' && m.event.kind === 'check');
    const forged = signStatement(us.identity, 'hotline-check-ack-v1', { checkId: started.checkId, kid: cnAlt.identity.kid, relay: relay.identity.kid });
    cnAlt.send({ type: 'check.ack', rid: 'f1', checkId: started.checkId, sig: forged });
    await expect(cnAlt.reply('f1')).resolves.toMatchObject({ type: 'error', code: 'BAD_SIGNATURE' });
    answer(cnAlt, started.checkId, 'ack', 'a2');
    await expect(cnAlt.reply('a2')).resolves.toMatchObject({ type: 'ok' });
    await us.connect(relay.url);
    const usAsk = signStatement(us.identity, 'hotline-check-ack-v1', { checkId: started.checkId, kid: us.identity.kid, relay: relay.identity.kid });
    us.send({ type: 'check.ack', rid: 'x', checkId: started.checkId, sig: usAsk });
    await expect(us.reply('x')).resolves.toMatchObject({ type: 'error', code: 'FORBIDDEN' });
  });

  it('closes a check at its deadline with an audit event naming who answered and who did not', async () => {
    await us.connect(relay.url);
    const started = await adminCall<Status>(relay, 'POST', '/checks', { state: 'US', withinMs: 1000 });
    await us.next((m) => m.type === 'event' && m.event.kind === 'check');
    answer(us, started.checkId, 'ack', 'a3');
    await us.reply('a3');
    await new Promise((r) => setTimeout(r, 1300));
    const status = await adminCall<Status>(relay, 'GET', `/checks/${started.checkId}`);
    expect(status.endedAt).not.toBeNull();
    const end = relay.store.auditEvents(1, 10_000).find((e) => e.type === 'check.end');
    expect(end?.data).toMatchObject({ checkId: started.checkId, answered: [us.identity.kid], missing: [] });
    expect(relay.store.auditEvents(1, 10_000).map((e) => e.type)).toEqual(expect.arrayContaining(['check.start', 'check.ack', 'check.end']));
  });

  it('refuses a check of an unknown state', async () => {
    await expect(adminCall(relay, 'POST', '/checks', { state: 'ZZ', withinMs: 5000 })).rejects.toThrow(/UNKNOWN_STATE/);
  });
});
