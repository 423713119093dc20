// Computes the known-answer vectors from fixed seeds; `npx tsx test/shared/vectors.ts` rewrites vectors.json (only on a deliberate encoding change).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  buildEnvelope,
  canonicalHash,
  canonicalJson,
  envelopeDigest,
  fingerprint,
  initCrypto,
  nextAuditEvent,
  signCheckpoint,
  signReceipt,
  type EnvelopeHeader,
} from '../../shared/index.ts';
import { party, T0 } from '../helpers/fixed-keys.ts';

export const vectorHeader: Omit<EnvelopeHeader, 'v' | 'from'> = {
  id: '019ad9a8-7c00-7000-8000-000000000001',
  channel: 'CN-US',
  kind: 'notice',
  fromState: 'US',
  toState: 'CN',
  level: 'FLASH',
  drill: { drillId: 'kat', inject: 0 },
  seq: 1,
  createdAt: T0,
  refs: [],
};

/** Deterministic parts; the envelope itself has random nonces, so it is stored and must keep verifying. */
export function deterministicVectors() {
  const us = party('us-primary');
  const cn = party('cn-primary');
  const relay = party('relay');
  const e1 = nextAuditEvent(null, T0, 'accepted', { id: vectorHeader.id, level: 'FLASH' });
  const e2 = nextAuditEvent(e1, T0 + 5, 'delivered', { id: vectorHeader.id, to: cn.identity.kid });
  return {
    identities: {
      us: { kid: us.identity.kid, fingerprint: fingerprint(us.identity.kid) },
      cn: { kid: cn.identity.kid, fingerprint: fingerprint(cn.identity.kid) },
      relay: { kid: relay.identity.kid },
    },
    prekey: cn.prekey.prekey,
    canonical: { header: canonicalJson(vectorHeader), hash: canonicalHash(vectorHeader) },
    audit: { events: [e1, e2], checkpoint: signCheckpoint(relay.identity, e2, T0 + 10) },
    receipt: signReceipt(relay.identity, { id: vectorHeader.id, hash: e1.hash, acceptedAt: T0 + 3, auditSeq: 1, ackDeadline: T0 + 300_003 }),
  };
}

async function main(): Promise<void> {
  await initCrypto();
  const us = party('us-primary');
  const cn = party('cn-primary');
  const envelope = buildEnvelope({
    sender: us.identity,
    header: vectorHeader,
    content: { subject: 'KAT', text: 'known-answer plaintext' },
    recipients: [{ kid: cn.identity.kid, prekey: cn.prekey.prekey }],
    now: T0,
  });
  const out = { ...deterministicVectors(), envelope, envelopeHash: envelopeDigest(envelope).hash, plaintext: 'known-answer plaintext' };
  writeFileSync(fileURLToPath(new URL('./vectors.json', import.meta.url)), JSON.stringify(out, null, 2) + '\n');
  console.log('wrote test/shared/vectors.json');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
