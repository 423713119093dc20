// The verify pool: worker threads give the same answers as verifyEnvelope, and one connection's sends stay in order.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HotlineError, initCrypto, toB64u, fromB64u, verifyEnvelope, type Envelope, type RelayMessage } from '../../shared/index.ts';
import { createVerifier, type EnvelopeVerifier } from '../../server/verify-pool.ts';
import { commitEnvelope, validateEnvelope } from '../../server/accept.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered, installRosters } from '../helpers/trust.ts';

const silent = pino({ level: 'silent' });

/** The same envelope with one bit of its signature flipped. */
function forged(envelope: Envelope): Envelope {
  const sig = fromB64u(envelope.sig);
  sig[10] = (sig[10] as number) ^ 1;
  return { ...envelope, sig: toB64u(sig) };
}

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (error) {
    return error instanceof HotlineError ? error.code : error;
  }
}

describe('verify pool', () => {
  let relay: TestRelay;
  let us: RawPeer;
  let cn: RawPeer;
  const verifiers: EnvelopeVerifier[] = [];

  beforeAll(async () => {
    await initCrypto();
    relay = await startTestRelay({ config: { verifyThreads: 2, limits: { ratePerSec: 10_000, rateBurst: 10_000 } } });
    await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH: 120_000 } });
    us = await RawPeer.enrol(relay, 'US');
    cn = await RawPeer.enrol(relay, 'CN');
    await chartered(relay, 'CN-US', [us, cn], { deadlines: { FLASH: 120_000 } });
  });

  afterEach(async () => {
    await Promise.all(verifiers.splice(0).map((v) => v.close()));
  });

  afterAll(async () => {
    us.close();
    cn.close();
    await relay.dispose();
  });

  it('answers exactly as verifyEnvelope does, for good and forged envelopes, on worker threads and inline', async () => {
    const good = Array.from({ length: 40 }, () => us.envelope([cn]));
    const mixed = good.map((e, i) => (i % 3 === 0 ? forged(e) : e));
    const expected = mixed.map((e) => {
      try {
        return verifyEnvelope(e);
      } catch (error) {
        return (error as HotlineError).code;
      }
    });
    for (const threads of [2, 0]) {
      const verifier = createVerifier(threads, silent);
      verifiers.push(verifier);
      expect(verifier.threads).toBe(threads);
      // Workers run the esbuild bundle (about 20 MB each), not the tsx fallback (about 60 MB each).
      expect(verifier.loader).toBe(threads === 0 ? 'inline' : 'bundle');
      // All in flight at once: answers must come back to the request that asked, not in completion order.
      const answers = await Promise.all(mixed.map((e) => outcome(verifier.verify(e, JSON.stringify(e)))));
      expect(answers).toEqual(expected);
      expect(answers.filter((a) => a === 'BAD_SIGNATURE')).toHaveLength(14);
      expect(verifier.inFlight).toBe(0);
    }
  });

  it('refuses after close instead of hanging', async () => {
    const verifier = createVerifier(1, silent);
    const e = us.envelope([cn]);
    const pending = outcome(verifier.verify(e, JSON.stringify(e)));
    await verifier.close();
    expect(['SHUTTING_DOWN', expect.objectContaining({ bodyHash: expect.any(String) })]).toContainEqual(await pending);
  });

  it('rejects a thread count that is not a whole number', () => {
    expect(() => createVerifier(-1, silent)).toThrow(/whole number/);
    expect(() => createVerifier(1.5, silent)).toThrow(/whole number/);
  });

  it('commits one connection’s burst of sends in the order sent, with a forged one refused in the middle', async () => {
    await us.connect(relay.url);
    const envelopes = Array.from({ length: 300 }, () => us.envelope([cn]));
    // The 150th is forged: it is refused with BAD_SIGNATURE, and the next seq is still accepted (seq may skip).
    envelopes[149] = forged(envelopes[149] as Envelope);
    const forgedSeq = (envelopes[149] as Envelope).header.seq;
    for (const [i, e] of envelopes.entries()) us.send({ type: 'send', rid: `b${i}`, envelope: e });
    const replies = await Promise.all(envelopes.map((_, i) => us.reply<'accepted'>(`b${i}`, 20_000)));
    const codes = replies.map((r: RelayMessage) => (r.type === 'error' ? r.code : r.type));
    expect(codes.filter((c) => c === 'accepted')).toHaveLength(299);
    expect(codes[149]).toBe('BAD_SIGNATURE');
    const stored = relay.store.db.prepare('SELECT seq FROM envelopes WHERE from_kid = ? ORDER BY rowid').all(us.identity.kid) as { seq: number }[];
    const seqs = stored.map((r) => r.seq);
    expect(seqs).toHaveLength(299);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs).not.toContain(forgedSeq);
  });

  it('refuses at commit an envelope whose sender was revoked while its signature was being checked', async () => {
    const late = await RawPeer.enrol(relay, 'US');
    const sender = relay.store.getMember(late.identity.kid);
    if (!sender) throw new Error('not enrolled');
    await installRosters(relay, [{ state: 'US', kid: late.identity.kid, name: 'US late PoC' }]);
    const validated = validateEnvelope(relay.context.acceptContext, sender, late.envelope([cn]));
    await adminCall(relay, 'POST', '/revoke', { kid: late.identity.kid, reason: 'revoked mid-flight' });
    const before = (relay.store.db.prepare('SELECT COUNT(*) AS n FROM envelopes').get() as { n: number }).n;
    expect(await outcome(relay.context.commits.enqueue(() => commitEnvelope(relay.context.acceptContext, validated)))).toBe('REVOKED_KEY');
    expect((relay.store.db.prepare('SELECT COUNT(*) AS n FROM envelopes').get() as { n: number }).n).toBe(before);
  });
});
