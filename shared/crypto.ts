// The only module that touches crypto libraries: signing, key agreement (X25519, ML-KEM-768), AEAD, hashing, encodings.
import { ml_kem768, type KEMPrepared } from '@noble/post-quantum/ml-kem.js';
import sodium from 'libsodium-wrappers';
import { HotlineError } from './errors.ts';

let ready = false;

/** Must be awaited once before any other function here; cheap after the first call. */
export async function initCrypto(): Promise<void> {
  if (ready) return;
  await sodium.ready;
  ready = true;
}

function lib(): typeof sodium {
  if (!ready) throw new Error('initCrypto() was not awaited before using shared/crypto');
  return sodium;
}

export const SIGN_PUBLIC_BYTES = 32;
export const SIGN_SECRET_BYTES = 64;
export const SIGNATURE_BYTES = 64;
export const X25519_BYTES = 32;
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const HASH_BYTES = 32;
/** FIPS 203 ML-KEM-768 sizes: encapsulation key, decapsulation key, ciphertext, key-generation seed (d || z), encapsulation randomness. */
export const KEM_PUBLIC_BYTES = 1184;
export const KEM_SECRET_BYTES = 2400;
export const KEM_CIPHERTEXT_BYTES = 1088;
export const KEM_SEED_BYTES = 64;
export const KEM_RANDOMNESS_BYTES = 32;
export const KEM_SHARED_BYTES = 32;

export interface SigningKeyPair {
  readonly publicKey: Uint8Array;
  /** 64 bytes: seed || public key, as libsodium keeps it. */
  readonly secretKey: Uint8Array;
}

export interface AgreementKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export function randomBytes(length: number): Uint8Array {
  return lib().randombytes_buf(length);
}

/** Ed25519 key pair; from a 32-byte seed when given (tests use fixed seeds). */
export function signingKeyPair(seed?: Uint8Array): SigningKeyPair {
  const kp = seed ? lib().crypto_sign_seed_keypair(seed) : lib().crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

/** X25519 key pair; from a 32-byte secret when given. */
export function agreementKeyPair(secret?: Uint8Array): AgreementKeyPair {
  const secretKey = secret ?? lib().randombytes_buf(X25519_BYTES);
  return { publicKey: lib().crypto_scalarmult_base(secretKey), secretKey };
}

export interface KemKeyPair {
  /** ML-KEM-768 encapsulation key (1184 bytes). */
  readonly publicKey: Uint8Array;
  /** ML-KEM-768 decapsulation key (2400 bytes), derived from `seed`. */
  readonly secretKey: Uint8Array;
  /** The 64-byte key-generation seed d || z (FIPS 203 ML-KEM.KeyGen_internal): what a keyfile keeps. */
  readonly seed: Uint8Array;
}

/** ML-KEM-768 key pair (FIPS 203), from a 64-byte seed d || z when given (the keyfile and known-answer tests). */
export function kemKeyPair(seed?: Uint8Array): KemKeyPair {
  const s = seed ?? lib().randombytes_buf(KEM_SEED_BYTES);
  if (s.length !== KEM_SEED_BYTES) throw new HotlineError('BAD_INPUT', `an ML-KEM-768 seed is ${KEM_SEED_BYTES} bytes`);
  const { publicKey, secretKey } = ml_kem768.keygen(s);
  return { publicKey, secretKey, seed: s };
}

/**
 * Expanded ML-KEM public keys (only public data: the key, its matrix, its hash), by key: a PoC encapsulates to the same
 * prekeys for a week and decapsulates under its own, and the expansion is about half of each call's cost.
 */
const preparedKem = new Map<string, KEMPrepared>();
const PREPARED_KEM_MAX = 64;

function preparedKemFor(publicKey: Uint8Array): KEMPrepared {
  const name = toB64u(publicKey);
  let prepared = preparedKem.get(name);
  if (prepared === undefined) {
    prepared = ml_kem768.prepare(publicKey);
    if (preparedKem.size >= PREPARED_KEM_MAX) {
      const oldest = preparedKem.keys().next().value;
      if (oldest !== undefined) preparedKem.delete(oldest);
    }
    preparedKem.set(name, prepared);
  }
  return prepared;
}

/** Where FIPS 203 puts the encapsulation key inside an ML-KEM-768 decapsulation key (after the 1152-byte dk_PKE). */
const KEM_SECRET_EK_OFFSET = 1152;

/**
 * ML-KEM-768 encapsulation to `publicKey`; `randomness` (32 bytes, FIPS 203 m) only for known-answer tests.
 * Throws DECRYPT_FAILED when the encapsulation key fails FIPS 203's modulus check or has the wrong length.
 */
export function kemEncapsulate(publicKey: Uint8Array, randomness?: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  if (publicKey.length !== KEM_PUBLIC_BYTES) throw new HotlineError('DECRYPT_FAILED', 'ML-KEM public key has the wrong length');
  const m = randomness ?? lib().randombytes_buf(KEM_RANDOMNESS_BYTES);
  try {
    const { cipherText, sharedSecret } = preparedKemFor(publicKey).encapsulate(m);
    return { ciphertext: cipherText, sharedSecret };
  } catch (cause) {
    throw new HotlineError('DECRYPT_FAILED', 'ML-KEM public key is invalid', { cause });
  }
}

/**
 * ML-KEM-768 decapsulation. Implicit rejection (FIPS 203): a changed ciphertext yields an unrelated secret rather
 * than an error, so tampering shows later, when the wrapped key fails to open. Throws DECRYPT_FAILED on wrong sizes.
 */
export function kemDecapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (ciphertext.length !== KEM_CIPHERTEXT_BYTES) throw new HotlineError('DECRYPT_FAILED', 'ML-KEM ciphertext has the wrong length');
  if (secretKey.length !== KEM_SECRET_BYTES) throw new HotlineError('DECRYPT_FAILED', 'ML-KEM secret key has the wrong length');
  try {
    return preparedKemFor(secretKey.subarray(KEM_SECRET_EK_OFFSET, KEM_SECRET_EK_OFFSET + KEM_PUBLIC_BYTES)).decapsulate(ciphertext, secretKey);
  } catch (cause) {
    throw new HotlineError('DECRYPT_FAILED', 'ML-KEM decapsulation failed', { cause });
  }
}

export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return lib().crypto_sign_detached(message, secretKey);
}

/** Never throws: malformed keys or signatures verify as false. */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== SIGN_PUBLIC_BYTES) return false;
  try {
    return lib().crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** X25519 shared secret; throws DECRYPT_FAILED on a low-order point. */
export function agree(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== X25519_BYTES) throw new HotlineError('DECRYPT_FAILED', 'agreement key has the wrong length');
  try {
    return lib().crypto_scalarmult(secretKey, publicKey);
  } catch (cause) {
    throw new HotlineError('DECRYPT_FAILED', 'agreement key is invalid', { cause });
  }
}

/** BLAKE2b-256 of the concatenated parts. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  return lib().crypto_generichash(HASH_BYTES, concatBytes(...parts), null);
}

/** XChaCha20-Poly1305 (IETF); returns nonce || ciphertext. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = lib().randombytes_buf(AEAD_NONCE_BYTES);
  const ct = lib().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key);
  return concatBytes(nonce, ct);
}

/** Opens nonce || ciphertext from `seal`; throws DECRYPT_FAILED on any change. */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (sealed.length < AEAD_NONCE_BYTES + 16) throw new HotlineError('DECRYPT_FAILED', 'ciphertext is too short');
  try {
    return lib().crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      sealed.subarray(AEAD_NONCE_BYTES),
      aad,
      sealed.subarray(0, AEAD_NONCE_BYTES),
      key,
    );
  } catch (cause) {
    throw new HotlineError('DECRYPT_FAILED', 'ciphertext does not authenticate', { cause });
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return lib().memcmp(a, b);
}

const B64URL = /^[A-Za-z0-9_-]*$/;

export function toB64u(bytes: Uint8Array): string {
  // Node's Buffer codec: about 9x faster than libsodium's here, and base64url is on every hot path.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Strict base64url (no padding); throws BAD_SCHEMA on anything else, or on a wrong length when `length` is set. */
export function fromB64u(text: string, length?: number): Uint8Array {
  if (!B64URL.test(text) || text.length % 4 === 1) throw new HotlineError('BAD_SCHEMA', 'not base64url');
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (toB64u(bytes) !== text) throw new HotlineError('BAD_SCHEMA', 'non-canonical base64url');
  if (length !== undefined && bytes.length !== length) {
    throw new HotlineError('BAD_SCHEMA', `expected ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
