// How a keyfile is sealed under a passphrase: scrypt derives the key (its parameters recorded in the file, a floor refused below), XChaCha20-Poly1305 (crypto.ts) seals the plaintext under per-kind associated data. Pure: the caller reads and writes the file.
import { randomBytes as nodeRandomBytes, scryptSync } from 'node:crypto';
import { z } from 'zod';
import { fromB64u, fromUtf8, open, seal, toB64u } from './crypto.ts';
import { HotlineError } from './errors.ts';

const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** scrypt needs 128·N·r bytes: 128 MiB at the default, 256 MiB for the largest N a keyfile may ask for. */
const SCRYPT_MAXMEM = 288 * 1024 * 1024;

/**
 * scrypt parameters for a new keyfile: N=2^17, r=8 (128 MiB), measured at 0.64 s on this project's 2-core machine
 * (N=2^15, the cost before, took 0.17 s). Argon2id through libsodium's wasm build took 0.54 s at t=3, 128 MiB, about
 * the same memory-hardness; scrypt runs natively in node:crypto and needs no second libsodium build. A keyfile sealed
 * at a lower cost (the legacy N=2^15) still opens and is re-sealed at this cost by its next successful unlock.
 */
export const DEFAULT_KDF = { alg: 'scrypt', N: 2 ** 17, r: 8, p: 1 } as const;

/**
 * The lowest cost a keyfile may ask for: what every keyfile before the raise was sealed with (N=2^15). Below it the
 * file is refused as damaged without running scrypt. Changing the parameters never helps an attacker who cannot
 * seal: they are inputs of the key, so other parameters derive another key and the seal does not open
 * (WRONG_PASSPHRASE); the floor and the ceiling bound what a doctored file can make this machine do.
 */
export const MIN_KDF_N = 2 ** 15;

/** A string of base64url, as the keyfile JSON carries bytes. */
export const b64uText = z.string().regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

/** The `kdf` field of a keyfile; its bounds keep a doctored keyfile from making scrypt allocate or spin without limit. */
export const kdfSchema = z.strictObject({
  alg: z.literal('scrypt'),
  N: z
    .number()
    .int()
    .min(MIN_KDF_N)
    .max(2 ** 18)
    .refine((n) => (n & (n - 1)) === 0, 'N must be a power of two'),
  // r is fixed (every keyfile ever written has r=8): with N bounded it bounds the memory; p bounds the time.
  r: z.literal(8),
  p: z.number().int().min(1).max(4),
  salt: b64uText,
});
export type KdfParams = z.infer<typeof kdfSchema>;

/** The two fields every keyfile's JSON carries next to its own (`v`, `kind`): how to derive the key, and the sealed plaintext. */
export interface SealedFields {
  readonly kdf: KdfParams;
  readonly sealed: string;
}

/** What tells one kind of keyfile from another. */
export interface KeyfileKind {
  /** Bound into the seal, so a keyfile of one kind never opens as another. */
  readonly aad: Uint8Array;
  /** How messages name the file, e.g. 'the authority keyfile'. */
  readonly label: string;
}

/**
 * True when a keyfile sealed with `kdf` costs less than a new one would: its opener re-seals it at the default
 * (the same secrets under a fresh salt) once the passphrase has opened it.
 */
export function kdfBelowDefault(kdf: KdfParams): boolean {
  return kdf.N * kdf.r * kdf.p < DEFAULT_KDF.N * DEFAULT_KDF.r * DEFAULT_KDF.p;
}

/** Fresh KDF parameters for a new keyfile: the defaults and a random salt. */
export function newKdfParams(): KdfParams {
  return { ...DEFAULT_KDF, salt: toB64u(nodeRandomBytes(SALT_BYTES)) };
}

/**
 * The 32-byte key `kdf` derives from `passphrase`; the caller wipes it when done. Throws BAD_INPUT when scrypt
 * refuses the parameters (the schema allows some that need more than the 64 MiB it may use here).
 */
export function deriveKey(passphrase: string, kdf: KdfParams, kind: KeyfileKind): Uint8Array {
  const salt = fromB64u(kdf.salt, SALT_BYTES);
  try {
    const derived = scryptSync(passphrase, salt, KEY_BYTES, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT_MAXMEM });
    const key = new Uint8Array(derived);
    derived.fill(0);
    return key;
  } catch (cause) {
    throw new HotlineError('BAD_INPUT', `${kind.label} asks for key-derivation parameters this machine cannot run`, { cause });
  }
}

/**
 * Seals `plaintext` under `key` (derived from `kdf`) into the keyfile's `kdf` and `sealed` fields, and wipes the
 * plaintext whatever happens; the key stays the caller's to wipe.
 * @example const text = `${JSON.stringify({ v: 1, ...sealPlaintext(kind, key, kdf, plaintext) })}\n`;
 */
export function sealPlaintext(kind: KeyfileKind, key: Uint8Array, kdf: KdfParams, plaintext: Uint8Array): SealedFields {
  let sealed: Uint8Array;
  try {
    sealed = seal(key, plaintext, kind.aad);
  } finally {
    plaintext.fill(0);
  }
  return { kdf, sealed: toB64u(sealed) };
}

/**
 * Parses a keyfile's `text` against `schema` (the file's own: its version, kind and the sealed fields), derives
 * the key from `passphrase` and opens the seal; the caller wipes both the key and the plaintext. `where` names the
 * file's place in messages (a directory). Throws `damaged(cause)` for text that is not such a keyfile,
 * WRONG_PASSPHRASE when the seal does not open (a wrong passphrase and a tampered file look the same; the key is
 * wiped then).
 * @example const { keyfile, key, plaintext } = openKeyfile(kind, home, passphrase, text, keyfileSchema, (cause) => damaged(home, cause));
 */
export function openKeyfile<Schema extends z.ZodType<SealedFields>>(
  kind: KeyfileKind,
  where: string,
  passphrase: string,
  text: string,
  schema: Schema,
  damaged: (cause: unknown) => HotlineError,
): { keyfile: z.output<Schema>; key: Uint8Array; plaintext: Uint8Array } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw damaged(cause);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw damaged(parsed.error);
  const keyfile = parsed.data;
  let sealed: Uint8Array;
  try {
    fromB64u(keyfile.kdf.salt, SALT_BYTES);
    sealed = fromB64u(keyfile.sealed);
  } catch (cause) {
    throw damaged(cause);
  }
  const key = deriveKey(passphrase, keyfile.kdf, kind);
  try {
    return { keyfile, key, plaintext: open(key, sealed, kind.aad) };
  } catch (cause) {
    key.fill(0);
    throw new HotlineError('WRONG_PASSPHRASE', `wrong passphrase for ${kind.label} in ${where}`, { cause });
  }
}

/**
 * The opened plaintext parsed as JSON and checked against `schema`, or null when it is not JSON or not that shape.
 * No cause is kept: a JSON.parse message quotes the text, and this text holds the secrets.
 */
export function parseOpenedPlaintext<Schema extends z.ZodType>(plaintext: Uint8Array, schema: Schema): z.output<Schema> | null {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(plaintext));
  } catch {
    return null;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : null;
}
