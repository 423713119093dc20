// Envelope verification with public data only: protocol rules, digest, signature. Apart from envelope building and
// opening, and free of zod, so that the relay's verify worker threads load only this and the crypto under it.
import { CHAIN_GENESIS } from './evidence/genesis.ts';
import { canonicalBytes, canonicalHash } from './canonical.ts';
import { fromB64u, hash, toB64u, verify } from './crypto.ts';
import { HotlineError } from './errors.ts';
import { publicKeyOf } from './identity.ts';
import type { Envelope, EnvelopeHeader, Recipient } from './schemas.ts';

const ENVELOPE_CTX = 'hotline-envelope-v1';
/** Kinds that carry a level and must reach at least one recipient. */
const leveledKinds = new Set<EnvelopeHeader['kind']>(['notice', 'reply', 'raise', 'check']);
/** Kinds that answer or continue an earlier envelope and so must reference it. */
const referringKinds = new Set<EnvelopeHeader['kind']>(['reply', 'ack', 'receipt', 'raise']);

/** The parts of an envelope a signature covers, without the body itself. */
export interface EnvelopeDigest {
  /** base64url BLAKE2b-256 of the body bytes. */
  readonly bodyHash: string;
  /** base64url hash naming the whole envelope; the relay's receipt carries it. */
  readonly hash: string;
}

/** True when every recipient's content key is wrapped with both X25519 and ML-KEM-768 (and there is at least one). */
export function isHybridEnvelope(envelope: { readonly recipients: readonly Recipient[] }): boolean {
  return envelope.recipients.length > 0 && envelope.recipients.every((r) => r.kemCiphertext !== undefined);
}

/** The bytes the sender signs: header, recipients and body hash under the envelope context. */
export function signedBytes(header: EnvelopeHeader, recipients: readonly Recipient[], bodyHash: string): Uint8Array {
  return canonicalBytes({ ctx: ENVELOPE_CTX, header, recipients, bodyHash });
}

/** Protocol rules a well-formed envelope must follow beyond its schema; throws BAD_ENVELOPE. */
export function checkEnvelopeRules(header: EnvelopeHeader, recipients: readonly Recipient[]): void {
  if (leveledKinds.has(header.kind) && header.level === null) {
    throw new HotlineError('BAD_ENVELOPE', `a ${header.kind} must carry a level`);
  }
  if (leveledKinds.has(header.kind) && header.kind !== 'check' && recipients.length === 0) {
    throw new HotlineError('BAD_ENVELOPE', `a ${header.kind} must have at least one recipient`);
  }
  if (referringKinds.has(header.kind) && header.refs.length === 0) {
    throw new HotlineError('BAD_ENVELOPE', `a ${header.kind} must reference the envelope it answers`);
  }
  const [a, b] = header.channel.split('-');
  const parties = new Set([a, b]);
  if (!parties.has(header.fromState) || !parties.has(header.toState)) {
    throw new HotlineError('BAD_ENVELOPE', 'fromState and toState must be the channel parties');
  }
  if ((header.v >= 2) !== (header.trust !== undefined)) {
    throw new HotlineError('BAD_ENVELOPE', 'a v2 or v3 header, and only those, names its charter and rosters');
  }
  const chained = header.chanSeq !== undefined && header.prev !== undefined;
  if ((header.v === 3) !== chained || (!chained && (header.chanSeq !== undefined || header.prev !== undefined))) {
    throw new HotlineError('BAD_ENVELOPE', 'a v3 header, and only a v3 header, carries chanSeq and prev');
  }
  if (chained && (header.chanSeq === 1) !== (header.prev === CHAIN_GENESIS)) {
    throw new HotlineError('BAD_ENVELOPE', 'the first envelope of a sender chain, and only the first, has the genesis prev');
  }
  if (header.trust !== undefined) {
    const named = Object.keys(header.trust.rosters);
    if (named.length !== 2 || !named.every((s) => parties.has(s))) {
      throw new HotlineError('BAD_ENVELOPE', 'the header must name the roster of each channel party');
    }
  }
  if (new Set(recipients.map((r) => r.kid)).size !== recipients.length) {
    throw new HotlineError('BAD_ENVELOPE', 'a recipient is listed twice');
  }
}

/** Body hash and envelope hash, computed from public parts only. */
export function envelopeDigest(envelope: Envelope): EnvelopeDigest {
  const bodyHash = toB64u(hash(fromB64u(envelope.body)));
  return { bodyHash, hash: digestFromParts(envelope.header, envelope.recipients, bodyHash, envelope.sig) };
}

/** The envelope hash from header, recipients, body hash and signature (what an export bundle holds). */
export function digestFromParts(header: EnvelopeHeader, recipients: readonly Recipient[], bodyHash: string, sig: string): string {
  return canonicalHash({ header, recipients, bodyHash, sig });
}

/**
 * Checks the sender's signature and the protocol rules using public data only; returns the digest.
 * Throws BAD_SIGNATURE or BAD_ENVELOPE. Does not need (or see) any secret key.
 */
export function verifyEnvelope(envelope: Envelope): EnvelopeDigest {
  checkEnvelopeRules(envelope.header, envelope.recipients);
  const digest = envelopeDigest(envelope);
  verifySignedParts(envelope.header, envelope.recipients, digest.bodyHash, envelope.sig);
  return digest;
}

/** Signature check over header, recipients and body hash: what an offline verifier without bodies can do. */
export function verifySignedParts(header: EnvelopeHeader, recipients: readonly Recipient[], bodyHash: string, sig: string): void {
  let publicKey: Uint8Array;
  let signature: Uint8Array;
  try {
    publicKey = publicKeyOf(header.from);
    signature = fromB64u(sig, 64);
  } catch (cause) {
    throw new HotlineError('BAD_SIGNATURE', 'sender key or signature is malformed', { cause });
  }
  if (!verify(signature, signedBytes(header, recipients, bodyHash), publicKey)) {
    throw new HotlineError('BAD_SIGNATURE', 'envelope signature does not verify');
  }
}

