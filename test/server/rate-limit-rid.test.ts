// RATE_LIMITED names the request it refused (its rid), so a client can tell which one to send again.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initCrypto, type RelayMessage } from '../../shared/index.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

let relay: TestRelay;
let us: RawPeer;
let cn: RawPeer;

/** Every answer the peer got with this rid so far (answers are removed from messages once awaited). */
function answersTo(peer: RawPeer, rid: string): RelayMessage[] {
  return peer.messages.filter((m) => 'rid' in m && m.rid === rid);
}

beforeEach(async () => {
  await initCrypto();
  relay = await startTestRelay({ config: { limits: { ratePerSec: 2, rateBurst: 5 } } });
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US' });
  us = await RawPeer.enrol(relay, 'US');
  cn = await RawPeer.enrol(relay, 'CN');
  await chartered(relay, 'CN-US', [us, cn]);
  expect((await us.connect(relay.url)).type).toBe('welcome');
});

afterEach(async () => {
  us.close();
  await relay.dispose();
});

describe('rate limit', () => {
  it('answers each refused request with RATE_LIMITED under its own rid', async () => {
    const rids = Array.from({ length: 20 }, (_, i) => `p${i}`);
    for (const rid of rids) us.send({ type: 'ping', rid });
    await expect.poll(() => rids.every((rid) => answersTo(us, rid).length > 0), { timeout: 5000 }).toBe(true);
    const refused = rids.filter((rid) => answersTo(us, rid).some((m) => m.type === 'error' && m.code === 'RATE_LIMITED'));
    // The burst of 5 is answered; of the rest (2 a second come back), most are refused, each once, by name.
    expect(refused.length).toBeGreaterThanOrEqual(12);
    for (const rid of rids) expect(answersTo(us, rid), rid).toHaveLength(1);
    expect(us.messages.filter((m) => m.type === 'error' && m.rid === null)).toEqual([]);
  });

  it('names a refused send by its rid, and stores nothing for it', async () => {
    for (let i = 0; i < 5; i++) us.send({ type: 'ping', rid: `burn${i}` });
    const envelope = us.envelope([cn]);
    const reply = await us.submit(envelope, 'the-send');
    expect(reply).toMatchObject({ type: 'error', rid: 'the-send', code: 'RATE_LIMITED' });
    expect(relay.store.envelopeById(envelope.header.id)).toBeNull();
  });

  it('refuses frames without a usable rid (not JSON, no rid) with rid null, and keeps the connection', async () => {
    for (let i = 0; i < 5; i++) us.send({ type: 'ping', rid: `burn${i}` });
    us.sendRaw('{not json');
    us.send({ type: 'ping' });
    await expect.poll(() => us.messages.filter((m) => m.type === 'error' && m.code === 'RATE_LIMITED' && m.rid === null).length).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 600));
    us.send({ type: 'ping', rid: 'later' });
    await expect(us.reply('later')).resolves.toMatchObject({ type: 'pong' });
  });
});
