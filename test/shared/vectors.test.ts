import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { envelopeDigest, initCrypto, openEnvelope, parseEnvelope, verifyAuditChain, verifyReceipt } from '../../shared/index.ts';
import { party } from '../helpers/fixed-keys.ts';
import { deterministicVectors } from './vectors.ts';

const stored = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8')) as ReturnType<typeof deterministicVectors> & {
  envelope: unknown;
  envelopeHash: string;
  plaintext: string;
};

beforeAll(initCrypto);

describe('known-answer vectors', () => {
  it('derives the same key ids, fingerprints, prekey, canonical form, audit hashes and signatures', () => {
    const now = deterministicVectors();
    expect(now.identities).toEqual(stored.identities);
    expect(now.prekey).toEqual(stored.prekey);
    expect(now.canonical).toEqual(stored.canonical);
    expect(now.audit).toEqual(stored.audit);
    expect(now.receipt).toEqual(stored.receipt);
  });

  it('still verifies and opens the stored envelope to the stored plaintext', () => {
    const envelope = parseEnvelope(stored.envelope);
    expect(envelopeDigest(envelope).hash).toBe(stored.envelopeHash);
    const cn = party('cn-primary');
    const opened = openEnvelope(envelope, { kid: cn.identity.kid, prekeySecrets: new Map([[cn.prekey.prekey.prekeyId, cn.prekey.secretKey]]) });
    expect(opened.content.text).toBe(stored.plaintext);
    expect(opened.header.drill).toEqual({ drillId: 'kat', inject: 0 });
  });

  it('stored audit events and checkpoint verify, and the stored receipt verifies', () => {
    expect(verifyAuditChain(stored.audit.events, [stored.audit.checkpoint], stored.identities.relay.kid).signedThrough).toBe(2);
    expect(() => verifyReceipt(stored.receipt, stored.identities.relay.kid)).not.toThrow();
  });
});
