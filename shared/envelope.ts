// Envelope build, verify (anyone, public keys only) and open (a recipient): encrypt-then-sign over RFC 8785 JSON.
import { canonicalBytes, canonicalJson } from './canonical.ts';
import {
  agree,
  agreementKeyPair,
  bytesEqual,
  concatBytes,
  fromB64u,
  fromUtf8,
  hash,
  kemDecapsulate,
  kemEncapsulate,
  open,
  randomBytes,
  seal,
  sign,
  toB64u,
  utf8,
  AEAD_KEY_BYTES,
  KEM_CIPHERTEXT_BYTES,
  type KemKeyPair,
  KEM_PUBLIC_BYTES,
} from './crypto.ts';
import { HotlineError } from './errors.ts';
import type { Identity } from './identity.ts';
import { verifyPrekey } from './prekey.ts';
import { checkEnvelopeRules, isHybridEnvelope, signedBytes, verifyEnvelope, type EnvelopeDigest } from './envelope-verify.ts';
import {
  contentSchema,
  envelopeSchema,
  type Content,
  type Envelope,
  type EnvelopeHeader,
  type Recipient,
  type SignedPrekey,
} from './schemas.ts';

const WRAP_CTX = utf8('hotline-wrap-v1');
const HYBRID_WRAP_CTX = utf8('hotline-wrap-v2-hybrid');

export interface RecipientKey {
  readonly kid: string;
  readonly prekey: SignedPrekey;
}

export interface BuildEnvelopeInput {
  readonly sender: Identity;
  readonly header: Omit<EnvelopeHeader, 'v' | 'from'>;
  readonly content: Content;
  readonly recipients: readonly RecipientKey[];
  /** Used to check the recipients' prekey validity windows. */
  readonly now: number;
  /** The channel's charter requires hybrid wrapping: a recipient prekey without an ML-KEM key is refused (HYBRID_REQUIRED). */
  readonly requireHybrid?: boolean;
}

export function headerHash(header: EnvelopeHeader): Uint8Array {
  return hash(canonicalBytes(header));
}

function wrapKey(shared: Uint8Array, ephemeralPub: Uint8Array, prekeyPub: Uint8Array, kid: string): Uint8Array {
  return hash(WRAP_CTX, shared, ephemeralPub, prekeyPub, utf8(kid));
}

/** What the hybrid wrap key is derived from (docs/PROTOCOL.md, "Hybrid key wrapping"). */
export interface HybridWrapInputs {
  /** X25519(ephemeral secret, prekey public key). */
  readonly x25519Shared: Uint8Array;
  /** ML-KEM-768 shared secret. */
  readonly kemShared: Uint8Array;
  readonly ephemeralPub: Uint8Array;
  readonly prekeyPub: Uint8Array;
  readonly kemCiphertext: Uint8Array;
  readonly kemPublicKey: Uint8Array;
  readonly headerHash: Uint8Array;
  readonly kid: string;
}

/**
 * The hybrid wrap key: BLAKE2b-256 over a context string, both shared secrets, both public keys (the ML-KEM one by its
 * hash), the ML-KEM ciphertext, the header hash and the recipient id. Every part but the last has a fixed length, so
 * the concatenation is unambiguous; whoever lacks either shared secret learns nothing of the key.
 */
export function hybridWrapKey(i: HybridWrapInputs): Uint8Array {
  return hash(HYBRID_WRAP_CTX, i.x25519Shared, i.kemShared, i.ephemeralPub, i.prekeyPub, i.kemCiphertext, hash(i.kemPublicKey), i.headerHash, utf8(i.kid));
}

function hybridRequired(what: string): HotlineError {
  return new HotlineError('HYBRID_REQUIRED', `${what}: the channel's charter requires post-quantum hybrid wrapping (X25519 + ML-KEM-768)`);
}

/** One recipient entry: the content key wrapped for `kid`'s prekey, hybrid when the prekey carries an ML-KEM key. */
function wrapFor(kid: string, prekey: SignedPrekey, contentKey: Uint8Array, hh: Uint8Array): Recipient {
  const prekeyPub = fromB64u(prekey.publicKey, 32);
  const ephemeral = agreementKeyPair();
  const x25519Shared = agree(ephemeral.secretKey, prekeyPub);
  const aad = concatBytes(hh, utf8(kid));
  const base = { kid, prekeyId: prekey.prekeyId, ephemeralPub: toB64u(ephemeral.publicKey) };
  if (prekey.kemPublicKey === undefined) {
    const key = wrapKey(x25519Shared, ephemeral.publicKey, prekeyPub, kid);
    return { ...base, wrappedKey: toB64u(seal(key, contentKey, aad)) };
  }
  const kemPublicKey = fromB64u(prekey.kemPublicKey, KEM_PUBLIC_BYTES);
  const { ciphertext, sharedSecret } = kemEncapsulate(kemPublicKey);
  const key = hybridWrapKey({ x25519Shared, kemShared: sharedSecret, ephemeralPub: ephemeral.publicKey, prekeyPub, kemCiphertext: ciphertext, kemPublicKey, headerHash: hh, kid });
  return { ...base, kemCiphertext: toB64u(ciphertext), wrappedKey: toB64u(seal(key, contentKey, aad)) };
}

/** Builds and signs an envelope: one content key, wrapped for each recipient's current prekey. */
export function buildEnvelope(input: BuildEnvelopeInput): Envelope {
  // v2 when the sender names the charter and rosters it used (every envelope of a chartered channel); v3 when it also
  // chains the envelope to its previous one on the channel.
  const v = input.header.chanSeq !== undefined ? 3 : input.header.trust !== undefined ? 2 : 1;
  const header: EnvelopeHeader = { v, ...input.header, from: input.sender.kid };
  const hh = headerHash(header);
  const contentKey = randomBytes(AEAD_KEY_BYTES);
  const body = seal(contentKey, utf8(canonicalJson(contentSchema.parse(input.content))), hh);
  const seen = new Set<string>();
  const recipients: Recipient[] = input.recipients.map(({ kid, prekey }) => {
    if (seen.has(kid)) throw new HotlineError('BAD_ENVELOPE', 'a recipient is listed twice');
    seen.add(kid);
    verifyPrekey(prekey, input.now, kid);
    if (input.requireHybrid === true && prekey.kemPublicKey === undefined) throw hybridRequired(`the prekey of ${kid} has no ML-KEM key`);
    return wrapFor(kid, prekey, contentKey, hh);
  });
  checkEnvelopeRules(header, recipients);
  const bodyB64 = toB64u(body);
  const bodyHash = toB64u(hash(body));
  const sig = toB64u(sign(signedBytes(header, recipients, bodyHash), input.sender.keys.secretKey));
  return envelopeSchema.parse({ header, recipients, body: bodyB64, sig });
}

/** Parses an envelope from outside (zod); throws BAD_SCHEMA with the first problem. */
export function parseEnvelope(value: unknown): Envelope {
  const result = envelopeSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new HotlineError('BAD_SCHEMA', `envelope: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  return result.data;
}

export interface RecipientSecrets {
  readonly kid: string;
  /** Prekey secrets by prekey id: the current one and those still in their grace period. */
  readonly prekeySecrets: ReadonlyMap<string, Uint8Array>;
  /** ML-KEM-768 key pairs of the hybrid ones among those prekeys, by prekey id (`kemKeyPair(seed)`, kept by the caller). */
  readonly kemKeys?: ReadonlyMap<string, KemKeyPair>;
}

export interface OpenOptions {
  /** The channel's charter requires hybrid wrapping: an envelope with any X25519-only recipient is refused (HYBRID_REQUIRED). */
  readonly requireHybrid?: boolean;
}

export interface OpenedEnvelope {
  readonly header: EnvelopeHeader;
  readonly content: Content;
  readonly digest: EnvelopeDigest;
}

/** Verifies, then decrypts for one recipient. Throws NOT_A_RECIPIENT, DECRYPT_FAILED, BAD_SIGNATURE. */
export function openEnvelope(envelope: Envelope, me: RecipientSecrets, options: OpenOptions = {}): OpenedEnvelope {
  const digest = verifyEnvelope(envelope);
  const mine = envelope.recipients.find((r) => r.kid === me.kid);
  if (!mine) throw new HotlineError('NOT_A_RECIPIENT');
  if (options.requireHybrid === true && !isHybridEnvelope(envelope)) throw hybridRequired('this envelope wraps a content key with X25519 alone');
  const prekeySecret = me.prekeySecrets.get(mine.prekeyId);
  if (!prekeySecret) throw new HotlineError('DECRYPT_FAILED', 'the prekey this envelope was sealed to is no longer held');
  const kem = me.kemKeys?.get(mine.prekeyId);
  const hh = headerHash(envelope.header);
  const ephemeralPub = fromB64u(mine.ephemeralPub, 32);
  const prekeyPub = agreementKeyPair(prekeySecret).publicKey;
  const x25519Shared = agree(prekeySecret, ephemeralPub);
  let key: Uint8Array;
  if (mine.kemCiphertext === undefined) {
    // A prekey with an ML-KEM key is only ever wrapped hybrid by an honest sender: X25519 alone here is a downgrade.
    if (kem !== undefined) throw new HotlineError('HYBRID_REQUIRED', 'this envelope was sealed to a hybrid prekey without its ML-KEM part (a downgrade)');
    key = wrapKey(x25519Shared, ephemeralPub, prekeyPub, me.kid);
  } else {
    if (kem === undefined) throw new HotlineError('DECRYPT_FAILED', 'the envelope has an ML-KEM part but the prekey it names has no ML-KEM key here');
    const kemCiphertext = fromB64u(mine.kemCiphertext, KEM_CIPHERTEXT_BYTES);
    const kemShared = kemDecapsulate(kemCiphertext, kem.secretKey);
    key = hybridWrapKey({ x25519Shared, kemShared, ephemeralPub, prekeyPub, kemCiphertext, kemPublicKey: kem.publicKey, headerHash: hh, kid: me.kid });
  }
  const contentKey = open(key, fromB64u(mine.wrappedKey), concatBytes(hh, utf8(me.kid)));
  const plaintext = open(contentKey, fromB64u(envelope.body), hh);
  let content: Content;
  try {
    content = contentSchema.parse(JSON.parse(fromUtf8(plaintext)));
  } catch (cause) {
    throw new HotlineError('DECRYPT_FAILED', 'decrypted content is malformed', { cause });
  }
  return { header: envelope.header, content, digest };
}

/** True when two envelopes are byte-for-byte the same signed object (used for idempotent resend). */
export function sameEnvelope(a: Envelope, b: Envelope): boolean {
  return bytesEqual(canonicalBytes(a), canonicalBytes(b));
}
