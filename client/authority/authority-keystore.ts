// A state authority's encrypted keyfile, authority.key in HOTLINE_HOME: its Ed25519 key, state and name, sealed under a passphrase.
import { randomBytes as nodeRandomBytes, scryptSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
  createIdentity,
  fromB64u,
  fromUtf8,
  HotlineError,
  keyId,
  nameSchema,
  open,
  seal,
  stateCodeSchema,
  timestampSchema,
  toB64u,
  utf8,
  type Identity,
} from '../../shared/index.ts';
import { ensurePrivateDir, errnoCode, ioError, writeFileAtomic } from './atomic-file.ts';

/** The authority keyfile's name inside HOTLINE_HOME (a PoC's identity.key may sit next to it; they never mix). */
export const AUTHORITY_KEYFILE_NAME = 'authority.key';

/** An opened authority keyfile. */
export interface Authority {
  readonly home: string;
  readonly state: string;
  readonly name: string;
  readonly createdAt: number;
  readonly identity: Identity;
}

// The same scheme as client/keystore.ts (scrypt, then XChaCha20-Poly1305 via shared/crypto) under its own
// associated data, so a PoC's keyfile copied over this one can never open as an authority.
const KEYFILE_VERSION = 1;
const KEYFILE_AAD = utf8('hotline-authority-keyfile-v1');
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;
const DEFAULT_KDF = { alg: 'scrypt', N: 32768, r: 8, p: 1 } as const;

const b64uText = z.string().regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

// Bounds keep a doctored keyfile from making scrypt allocate or spin without limit.
const kdfSchema = z.strictObject({
  alg: z.literal('scrypt'),
  N: z
    .number()
    .int()
    .min(2 ** 14)
    .max(2 ** 20)
    .refine((n) => (n & (n - 1)) === 0, 'N must be a power of two'),
  r: z.number().int().min(1).max(32),
  p: z.number().int().min(1).max(16),
  salt: b64uText,
});
type KdfParams = z.infer<typeof kdfSchema>;

const keyfileSchema = z.strictObject({
  v: z.literal(KEYFILE_VERSION),
  kind: z.literal('authority'),
  kdf: kdfSchema,
  sealed: b64uText,
});

const sealedDataSchema = z.strictObject({
  state: stateCodeSchema,
  name: nameSchema,
  createdAt: timestampSchema,
  authoritySecret: b64uText,
});

/**
 * Creates HOTLINE_HOME (0700) if needed and a new authority keyfile in it (0600) with a fresh Ed25519 key.
 * Callers must have awaited `initCrypto()` first. Throws BAD_INPUT for an empty passphrase, a state code or
 * name that is not one, CONFLICT when an authority keyfile is already there.
 * @example const authority = createAuthority(home, passphrase, 'CN', 'CN national CERT', Date.now());
 */
export function createAuthority(home: string, passphrase: string, state: string, name: string, now: number): Authority {
  requirePassphrase(passphrase);
  if (!stateCodeSchema.safeParse(state).success) throw new HotlineError('BAD_INPUT', `"${state}" is not a state code (2–8 capitals or digits, e.g. US, CN)`);
  const named = nameSchema.safeParse(name);
  if (!named.success || name.trim() === '') throw new HotlineError('BAD_INPUT', 'the authority name must be 1 to 80 characters, without control characters');
  ensurePrivateDir(home);
  if (authorityExists(home)) throw alreadyExists(home);

  const kdf: KdfParams = { ...DEFAULT_KDF, salt: toB64u(nodeRandomBytes(SALT_BYTES)) };
  const key = deriveKey(passphrase, kdf);
  const identity = createIdentity();
  const plaintext = utf8(JSON.stringify({ state, name, createdAt: now, authoritySecret: toB64u(identity.keys.secretKey) } satisfies z.infer<typeof sealedDataSchema>));
  let sealed: Uint8Array;
  try {
    sealed = seal(key, plaintext, KEYFILE_AAD);
  } finally {
    plaintext.fill(0);
    key.fill(0);
  }
  const text = `${JSON.stringify({ v: KEYFILE_VERSION, kind: 'authority', kdf, sealed: toB64u(sealed) })}\n`;
  try {
    writeFileAtomic(keyfilePath(home), text, 'create');
  } catch (cause) {
    if (cause instanceof HotlineError && cause.code === 'CONFLICT') throw alreadyExists(home);
    throw cause;
  }
  return Object.freeze({ home, state, name, createdAt: now, identity });
}

/**
 * Opens the authority keyfile in HOTLINE_HOME. Callers must have awaited `initCrypto()` first. Throws NO_AUTHORITY
 * when there is none, WRONG_PASSPHRASE when it does not decrypt (a wrong passphrase and a tampered file look the
 * same), BAD_INPUT for an empty passphrase or a damaged file.
 */
export function openAuthority(home: string, passphrase: string): Authority {
  requirePassphrase(passphrase);
  let text: string;
  try {
    text = fs.readFileSync(keyfilePath(home), 'utf8');
  } catch (cause) {
    if (errnoCode(cause) === 'ENOENT') {
      throw new HotlineError('NO_AUTHORITY', `no state authority keyfile in ${home}: run \`hotline authority init --state CODE\` first (or set HOTLINE_HOME)`);
    }
    throw ioError(`cannot read the authority keyfile in ${home}`, cause);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw damaged(home, cause);
  }
  const keyfile = keyfileSchema.safeParse(json);
  if (!keyfile.success) throw damaged(home, keyfile.error);
  let sealed: Uint8Array;
  try {
    fromB64u(keyfile.data.kdf.salt, SALT_BYTES);
    sealed = fromB64u(keyfile.data.sealed);
  } catch (cause) {
    throw damaged(home, cause);
  }
  const key = deriveKey(passphrase, keyfile.data.kdf);
  let plaintext: Uint8Array;
  try {
    plaintext = open(key, sealed, KEYFILE_AAD);
  } catch (cause) {
    throw new HotlineError('WRONG_PASSPHRASE', `wrong passphrase for the authority keyfile in ${home}`, { cause });
  } finally {
    key.fill(0);
  }
  try {
    return decodeAuthority(home, plaintext);
  } finally {
    plaintext.fill(0);
  }
}

/** True when HOTLINE_HOME holds an authority keyfile (it is not opened). */
export function authorityExists(home: string): boolean {
  return fs.existsSync(keyfilePath(home));
}

function keyfilePath(home: string): string {
  return path.join(home, AUTHORITY_KEYFILE_NAME);
}

function decodeAuthority(home: string, plaintext: Uint8Array): Authority {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(plaintext));
  } catch {
    // No cause: a JSON.parse message quotes the text, and this text holds the secret key.
    throw damaged(home, undefined);
  }
  const data = sealedDataSchema.safeParse(json);
  if (!data.success) throw damaged(home, undefined);
  let secretKey: Uint8Array;
  try {
    secretKey = fromB64u(data.data.authoritySecret, 64);
  } catch {
    throw damaged(home, undefined);
  }
  const publicKey = secretKey.slice(32);
  const identity: Identity = { kid: keyId(publicKey), keys: { publicKey, secretKey } };
  return Object.freeze({ home, state: data.data.state, name: data.data.name, createdAt: data.data.createdAt, identity });
}

function requirePassphrase(passphrase: string): void {
  if (passphrase === '') throw new HotlineError('BAD_INPUT', 'the passphrase is empty; set HOTLINE_AUTHORITY_PASSPHRASE or HOTLINE_PASSPHRASE');
}

function deriveKey(passphrase: string, kdf: KdfParams): Uint8Array {
  const salt = fromB64u(kdf.salt, SALT_BYTES);
  try {
    const derived = scryptSync(passphrase, salt, KEY_BYTES, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT_MAXMEM });
    const key = new Uint8Array(derived);
    derived.fill(0);
    return key;
  } catch (cause) {
    throw new HotlineError('BAD_INPUT', 'the authority keyfile asks for key-derivation parameters this machine cannot run', { cause });
  }
}

function alreadyExists(home: string): HotlineError {
  return new HotlineError('CONFLICT', `a state authority keyfile already exists in ${home} (${AUTHORITY_KEYFILE_NAME}), and a state has one: nothing to do; keep using it, or choose another HOTLINE_HOME`);
}

function damaged(home: string, cause: unknown): HotlineError {
  return new HotlineError('BAD_INPUT', `the authority keyfile in ${home} is damaged or not a Hotline v${KEYFILE_VERSION} authority keyfile`, { cause });
}
