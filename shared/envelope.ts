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
  open,
  randomBytes,
  seal,
  sign,
  toB64u,
  utf8,
  AEAD_KEY_BYTES,
} from './crypto.ts';
import { HotlineError } from './errors.ts';
import type { Identity } from './identity.ts';
import { verifyPrekey } from './prekey.ts';
import { checkEnvelopeRules, signedBytes, verifyEnvelope, type EnvelopeDigest } from './envelope-verify.ts';
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

export function headerHash(header: EnvelopeHeader): Uint8Array {
  return hash(canonicalBytes(header));
}

function wrapKey(shared: Uint8Array, ephemeralPub: Uint8Array, prekeyPub: Uint8Array, kid: string): Uint8Array {
  return hash(WRAP_CTX, shared, ephemeralPub, prekeyPub, utf8(kid));
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
