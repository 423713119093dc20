// Known-answer vectors of the hybrid key wrap (docs/PROTOCOL.md), from fixed seeds; `npx tsx test/shared/hybrid-vectors.ts`
// rewrites hybrid-vectors.json (only on a deliberate change of the derivation).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  agree,
  agreementKeyPair,
  buildEnvelope,
  canonicalJson,
  fromB64u,
  hash,
  headerHash,
  hybridWrapKey,
  initCrypto,
  kemEncapsulate,
  toB64u,
  type EnvelopeHeader,
} from '../../shared/index.ts';
import { party, seed, T0 } from '../helpers/fixed-keys.ts';
import { vectorHeader } from './vectors.ts';

/** The header hash every hybrid vector is bound to: the first-wave vector header, as US sends it. */
export function hybridVectorHeaderHash(): Uint8Array {
  const us = party('us-primary');
  const header: EnvelopeHeader = { v: 1, ...vectorHeader, from: us.identity.kid };
  return headerHash(header);
}

/** Every input and output of one hybrid wrap, all from fixed bytes (no randomness). */
export function deterministicHybridWrap() {
  const cn = party('cn-primary', T0, { hybrid: true });
  const ephemeral = agreementKeyPair(seed('hybrid-ephemeral'));
  const prekeyPub = fromB64u(cn.prekey.prekey.publicKey, 32);
  const kemPublicKey = fromB64u(cn.prekey.prekey.kemPublicKey as string);
  const { ciphertext, sharedSecret } = kemEncapsulate(kemPublicKey, seed('hybrid-kem-m'));
  const x25519Shared = agree(ephemeral.secretKey, prekeyPub);
  const hh = hybridVectorHeaderHash();
  const key = hybridWrapKey({ x25519Shared, kemShared: sharedSecret, ephemeralPub: ephemeral.publicKey, prekeyPub, kemCiphertext: ciphertext, kemPublicKey, headerHash: hh, kid: cn.identity.kid });
  return {
    recipientKid: cn.identity.kid,
    prekeyId: cn.prekey.prekey.prekeyId,
    prekeyPub: cn.prekey.prekey.publicKey,
    kemPublicKeyHash: toB64u(hash(kemPublicKey)),
    ephemeralPub: toB64u(ephemeral.publicKey),
    kemCiphertext: toB64u(ciphertext),
    x25519Shared: toB64u(x25519Shared),
    kemShared: toB64u(sharedSecret),
    headerHash: toB64u(hh),
    wrapKey: toB64u(key),
  };
}

/** A whole hybrid envelope, US → CN (random nonces: stored, and it must keep opening). */
export function hybridEnvelopeVector() {
  const us = party('us-primary', T0, { hybrid: true });
  const cn = party('cn-primary', T0, { hybrid: true });
  return buildEnvelope({
    sender: us.identity,
    header: vectorHeader,
    content: { subject: 'KAT hybrid', text: 'Known-answer envelope, wrapped with X25519 and ML-KEM-768.' },
    recipients: [{ kid: cn.identity.kid, prekey: cn.prekey.prekey }],
    now: T0,
    requireHybrid: true,
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await initCrypto();
  const out = { wrap: deterministicHybridWrap(), envelope: hybridEnvelopeVector() };
  writeFileSync(new URL('./hybrid-vectors.json', import.meta.url), `${canonicalJson(out)}\n`);
  console.log('wrote test/shared/hybrid-vectors.json');
}
