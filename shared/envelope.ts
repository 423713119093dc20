// Envelope build, verify (anyone, public keys only) and open (a recipient): encrypt-then-sign over RFC 8785 JSON.
import { canonicalBytes, canonicalHash, canonicalJson } from './canonical.ts';
import {
  agree,
  agreementKeyPair,
  bytesEqual,
  concatBytes,
  fromB64u,
  fromUtf8,
  hash,
  open,
  randomBytes,
  seal,
  sign,
  toB64u,
  utf8,
  verify,
  AEAD_KEY_BYTES,
} from './crypto.ts';
import { HotlineError } from './errors.ts';
import { publicKeyOf, type Identity } from './identity.ts';
import { verifyPrekey } from './prekey.ts';
import {
  contentSchema,
  envelopeSchema,
  type Content,
  type Envelope,
  type EnvelopeHeader,
  type Recipient,
  type SignedPrekey,
} from './schemas.ts';

const ENVELOPE_CTX = 'hotline-envelope-v1';
const WRAP_CTX = utf8('hotline-wrap-v1');

/** Kinds that carry a level and must reach at least one recipient. */
const leveledKinds = new Set<EnvelopeHeader['kind']>(['notice', 'reply', 'raise', 'check']);
/** Kinds that answer or continue an earlier envelope and so must reference it. */
const referringKinds = new Set<EnvelopeHeader['kind']>(['reply', 'ack', 'receipt', 'raise']);

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
}

/** The parts of an envelope a signature covers, without the body itself. */
export interface EnvelopeDigest {
  /** base64url BLAKE2b-256 of the body bytes. */
  readonly bodyHash: string;
  /** base64url hash naming the whole envelope; the relay's receipt carries it. */
  readonly hash: string;
}

export function headerHash(header: EnvelopeHeader): Uint8Array {
  return hash(canonicalBytes(header));
}

function signedBytes(header: EnvelopeHeader, recipients: readonly Recipient[], bodyHash: string): Uint8Array {
  return canonicalBytes({ ctx: ENVELOPE_CTX, header, recipients, bodyHash });
}

function wrapKey(shared: Uint8Array, ephemeralPub: Uint8Array, prekeyPub: Uint8Array, kid: string): Uint8Array {
  return hash(WRAP_CTX, shared, ephemeralPub, prekeyPub, utf8(kid));
}

/** Builds and signs an envelope: one content key, wrapped for each recipient's current prekey. */
export function buildEnvelope(input: BuildEnvelopeInput): Envelope {
  const header: EnvelopeHeader = { v: 1, ...input.header, from: input.sender.kid };
  const hh = headerHash(header);
  const contentKey = randomBytes(AEAD_KEY_BYTES);
  const body = seal(contentKey, utf8(canonicalJson(contentSchema.parse(input.content))), hh);
  const seen = new Set<string>();
  const recipients: Recipient[] = input.recipients.map(({ kid, prekey }) => {
    if (seen.has(kid)) throw new HotlineError('BAD_ENVELOPE', 'a recipient is listed twice');
    seen.add(kid);
    verifyPrekey(prekey, input.now, kid);
    const prekeyPub = fromB64u(prekey.publicKey, 32);
    const ephemeral = agreementKeyPair();
    const key = wrapKey(agree(ephemeral.secretKey, prekeyPub), ephemeral.publicKey, prekeyPub, kid);
    return {
      kid,
      prekeyId: prekey.prekeyId,
      ephemeralPub: toB64u(ephemeral.publicKey),
      wrappedKey: toB64u(seal(key, contentKey, concatBytes(hh, utf8(kid)))),
    };
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

export interface RecipientSecrets {
  readonly kid: string;
  /** Prekey secrets by prekey id: the current one and those still in their grace period. */
  readonly prekeySecrets: ReadonlyMap<string, Uint8Array>;
}

export interface OpenedEnvelope {
  readonly header: EnvelopeHeader;
  readonly content: Content;
  readonly digest: EnvelopeDigest;
}

/** Verifies, then decrypts for one recipient. Throws NOT_A_RECIPIENT, DECRYPT_FAILED, BAD_SIGNATURE. */
export function openEnvelope(envelope: Envelope, me: RecipientSecrets): OpenedEnvelope {
  const digest = verifyEnvelope(envelope);
  const mine = envelope.recipients.find((r) => r.kid === me.kid);
  if (!mine) throw new HotlineError('NOT_A_RECIPIENT');
  const prekeySecret = me.prekeySecrets.get(mine.prekeyId);
  if (!prekeySecret) throw new HotlineError('DECRYPT_FAILED', 'the prekey this envelope was sealed to is no longer held');
  const hh = headerHash(envelope.header);
  const ephemeralPub = fromB64u(mine.ephemeralPub, 32);
  const prekeyPub = agreementKeyPair(prekeySecret).publicKey;
  const key = wrapKey(agree(prekeySecret, ephemeralPub), ephemeralPub, prekeyPub, me.kid);
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
