// Signed X25519 prekeys: a PoC's published encryption key, signed by its identity key, valid in a window.
import { canonicalHash } from './canonical.ts';
import { agreementKeyPair, toB64u } from './crypto.ts';
import { HotlineError } from './errors.ts';
import { signStatement, verifyStatement, type Identity } from './identity.ts';
import type { SignedPrekey } from './schemas.ts';

const PREKEY_CTX = 'hotline-prekey-v1';

/** Default rotation period and the grace period an old prekey's secret is kept after it. */
export const PREKEY_VALIDITY_MS = 7 * 24 * 3600 * 1000;
export const PREKEY_GRACE_MS = 7 * 24 * 3600 * 1000;
/** How far in the future a prekey's start may be and still count as valid (clock skew between machines). */
export const PREKEY_CLOCK_SKEW_MS = 10 * 60 * 1000;

export interface PrekeyPair {
  readonly prekey: SignedPrekey;
  readonly secretKey: Uint8Array;
}

/** A fresh X25519 prekey signed by `owner`, valid from `now` for `validityMs`. */
export function createPrekey(owner: Identity, now: number, validityMs = PREKEY_VALIDITY_MS, secret?: Uint8Array): PrekeyPair {
  const kp = agreementKeyPair(secret);
  const publicKey = toB64u(kp.publicKey);
  const unsigned = {
    owner: owner.kid,
    prekeyId: canonicalHash({ ctx: PREKEY_CTX, publicKey }),
    publicKey,
    notBefore: now,
    notAfter: now + validityMs,
  };
  return { prekey: { ...unsigned, sig: signStatement(owner, PREKEY_CTX, unsigned) }, secretKey: kp.secretKey };
}

/** Throws PREKEY_BAD_SIGNATURE or PREKEY_EXPIRED; `expectedOwner` pins whose prekey it must be. */
export function verifyPrekey(prekey: SignedPrekey, now: number, expectedOwner?: string): void {
  const { sig, ...unsigned } = prekey;
  if (expectedOwner !== undefined && prekey.owner !== expectedOwner) {
    throw new HotlineError('PREKEY_BAD_SIGNATURE', 'prekey belongs to another identity');
  }
  if (prekey.prekeyId !== canonicalHash({ ctx: PREKEY_CTX, publicKey: prekey.publicKey })) {
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
