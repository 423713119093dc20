// Signed prekeys: a PoC's published encryption keys (X25519, and ML-KEM-768 for hybrid wrapping), signed together by
// its identity key, valid in a window.
import { canonicalHash } from './canonical.ts';
import { agreementKeyPair, kemKeyPair, toB64u } from './crypto.ts';
import { HotlineError } from './errors.ts';
import { signStatement, verifyStatement, type Identity } from './identity.ts';
import type { SignedPrekey } from './schemas.ts';

const PREKEY_CTX = 'hotline-prekey-v1';
/** Domain string of a hybrid prekey's id: the hash names both public keys. */
const HYBRID_PREKEY_ID_CTX = 'hotline-prekey-id-v2';

/** Default rotation period and the grace period an old prekey's secret is kept after it. */
export const PREKEY_VALIDITY_MS = 7 * 24 * 3600 * 1000;
export const PREKEY_GRACE_MS = 7 * 24 * 3600 * 1000;
/** How far in the future a prekey's start may be and still count as valid (clock skew between machines). */
export const PREKEY_CLOCK_SKEW_MS = 10 * 60 * 1000;

export interface PrekeyPair {
  readonly prekey: SignedPrekey;
  /** X25519 secret (32 bytes). */
  readonly secretKey: Uint8Array;
  /** ML-KEM-768 key-generation seed (64 bytes), or null for an X25519-only prekey. */
  readonly kemSeed: Uint8Array | null;
}

export interface CreatePrekeyOptions {
  /** X25519 secret; random when absent (tests pass fixed bytes). */
  readonly secret?: Uint8Array;
  /** ML-KEM-768 seed; random when absent; null makes an X25519-only prekey (what clients before hybrid wrapping made). */
  readonly kemSeed?: Uint8Array | null;
}

/** The id a prekey must carry: over the X25519 key alone for old prekeys, over both keys for hybrid ones. */
export function prekeyIdOf(publicKey: string, kemPublicKey: string | undefined): string {
  return kemPublicKey === undefined
    ? canonicalHash({ ctx: PREKEY_CTX, publicKey })
    : canonicalHash({ ctx: HYBRID_PREKEY_ID_CTX, publicKey, kemPublicKey });
}

/** True when the prekey carries an ML-KEM-768 key (senders then wrap with both X25519 and ML-KEM). */
export function isHybridPrekey(prekey: SignedPrekey): boolean {
  return prekey.kemPublicKey !== undefined;
}

/**
 * A fresh prekey signed by `owner`, valid from `now` for `validityMs`: X25519 and ML-KEM-768 keys under one signature
 * (hybrid), unless `kemSeed: null`.
 */
export function createPrekey(owner: Identity, now: number, validityMs = PREKEY_VALIDITY_MS, options: CreatePrekeyOptions = {}): PrekeyPair {
  const kp = agreementKeyPair(options.secret);
  const kem = options.kemSeed === null ? null : kemKeyPair(options.kemSeed);
  const publicKey = toB64u(kp.publicKey);
  const kemPublicKey = kem === null ? undefined : toB64u(kem.publicKey);
  const unsigned = {
    owner: owner.kid,
    prekeyId: prekeyIdOf(publicKey, kemPublicKey),
    publicKey,
    ...(kemPublicKey === undefined ? {} : { kemPublicKey }),
    notBefore: now,
    notAfter: now + validityMs,
  };
  return { prekey: { ...unsigned, sig: signStatement(owner, PREKEY_CTX, unsigned) }, secretKey: kp.secretKey, kemSeed: kem?.seed ?? null };
}

/** Throws PREKEY_BAD_SIGNATURE or PREKEY_EXPIRED; `expectedOwner` pins whose prekey it must be. */
export function verifyPrekey(prekey: SignedPrekey, now: number, expectedOwner?: string): void {
  const { sig, ...unsigned } = prekey;
  if (expectedOwner !== undefined && prekey.owner !== expectedOwner) {
    throw new HotlineError('PREKEY_BAD_SIGNATURE', 'prekey belongs to another identity');
  }
  if (prekey.prekeyId !== prekeyIdOf(prekey.publicKey, prekey.kemPublicKey)) {
    throw new HotlineError('PREKEY_BAD_SIGNATURE', 'prekey id does not match its key');
  }
  if (!verifyStatement(prekey.owner, sig, PREKEY_CTX, unsigned)) {
    throw new HotlineError('PREKEY_BAD_SIGNATURE');
  }
  // A prekey made on a clock running a little ahead is still good: clocks of PoCs and relay are not in lockstep.
  if (now < prekey.notBefore - PREKEY_CLOCK_SKEW_MS || now > prekey.notAfter) {
    throw new HotlineError('PREKEY_EXPIRED', `prekey valid ${new Date(prekey.notBefore).toISOString()} to ${new Date(prekey.notAfter).toISOString()}`);
  }
}
