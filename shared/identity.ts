// Ed25519 identities: key ids, human-comparable fingerprints, and context-bound signatures over canonical JSON.
import { canonicalBytes } from './canonical.ts';
import { fromB64u, hash, sign, signingKeyPair, toB64u, utf8, verify, type SigningKeyPair } from './crypto.ts';
import { HotlineError } from './errors.ts';

export interface Identity {
  readonly kid: string;
  readonly keys: SigningKeyPair;
}

/** A new identity, or a fixed one from a 32-byte seed (tests). */
export function createIdentity(seed?: Uint8Array): Identity {
  const keys = signingKeyPair(seed);
  return { kid: keyId(keys.publicKey), keys };
}

/** The key id: base64url of the Ed25519 public key. */
export function keyId(publicKey: Uint8Array): string {
  return toB64u(publicKey);
}

/** The Ed25519 public key a key id names; throws BAD_SCHEMA when it is not one. */
export function publicKeyOf(kid: string): Uint8Array {
  return fromB64u(kid, 32);
}

/**
 * Six groups of five digits, derived from the public key, for reading aloud over a phone line.
 * @example fingerprint(kid) === '04521 88713 20974 55102 73321 09846'
 */
export function fingerprint(kid: string): string {
  const digest = hash(utf8('hotline-fingerprint-v1'), publicKeyOf(kid));
  const groups: string[] = [];
  for (let g = 0; g < 6; g++) {
    let n = 0;
    for (let i = 0; i < 5; i++) n = n * 256 + (digest[g * 5 + i] ?? 0);
    groups.push(String(n % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

/** Compares fingerprints typed by a person: spaces and dashes do not matter. */
export function sameFingerprint(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/[\s-]/g, '');
  return norm(a) === norm(b) && norm(a).length === 30;
}

/** Signs canonical({ctx, ...fields}): the context string keeps one kind of signature from passing for another. */
export function signStatement(identity: Identity, ctx: string, fields: Record<string, unknown>): string {
  return toB64u(sign(canonicalBytes({ ...fields, ctx }), identity.keys.secretKey));
}

/** Verifies a signature made by `signStatement`; false on any malformed input. */
export function verifyStatement(kid: string, sig: string, ctx: string, fields: Record<string, unknown>): boolean {
  let publicKey: Uint8Array;
  let signature: Uint8Array;
  try {
    publicKey = publicKeyOf(kid);
    signature = fromB64u(sig, 64);
  } catch (cause) {
    if (cause instanceof HotlineError) return false;
    throw cause;
  }
  return verify(signature, canonicalBytes({ ...fields, ctx }), publicKey);
}
