// A state authority's encrypted keyfile, authority.key in HOTLINE_HOME: its Ed25519 key, state and name, sealed under a passphrase.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
  createIdentity,
  fromB64u,
  HotlineError,
  keyId,
  nameSchema,
  stateCodeSchema,
  timestampSchema,
  toB64u,
  utf8,
  type Identity,
} from '../../shared/index.ts';
import { b64uText, deriveKey, kdfBelowDefault, kdfSchema, newKdfParams, openKeyfile, parseOpenedPlaintext, sealPlaintext, type KeyfileKind, type SealedFields } from '../keyfile-sealing.ts';
import { requireStrongPassphrase } from '../../shared/passphrase-policy.ts';
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

// Sealed as a PoC's keyfile is (client/keyfile-sealing.ts), under its own associated data, so a PoC's keyfile
// copied over this one can never open as an authority.
const KEYFILE_VERSION = 1;
const KEYFILE_KIND: KeyfileKind = { aad: utf8('hotline-authority-keyfile-v1'), label: 'the authority keyfile' };

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
 * name that is not one, WEAK_PASSPHRASE for a passphrase the policy refuses (shared/passphrase-policy.ts),
 * CONFLICT when an authority keyfile is already there.
 * @example const authority = createAuthority(home, passphrase, 'CN', 'CN national CERT', Date.now());
 */
export function createAuthority(home: string, passphrase: string, state: string, name: string, now: number): Authority {
  requirePassphrase(passphrase);
  if (!stateCodeSchema.safeParse(state).success) throw new HotlineError('BAD_INPUT', `"${state}" is not a state code (2–8 capitals or digits, e.g. US, CN)`);
  const named = nameSchema.safeParse(name);
  if (!named.success || name.trim() === '') throw new HotlineError('BAD_INPUT', 'the authority name must be 1 to 80 characters, without control characters');
  requireStrongPassphrase(passphrase, [state, name]);
  ensurePrivateDir(home);
  if (authorityExists(home)) throw alreadyExists(home);

  const identity = createIdentity();
  const plaintext = utf8(JSON.stringify({ state, name, createdAt: now, authoritySecret: toB64u(identity.keys.secretKey) } satisfies z.infer<typeof sealedDataSchema>));
  writeAuthorityKeyfile(home, passphrase, plaintext, 'create');
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
  const { keyfile, key, plaintext } = openKeyfile(KEYFILE_KIND, home, passphrase, text, keyfileSchema, (cause) => damaged(home, cause));
  key.fill(0);
  try {
    const authority = decodeAuthority(home, plaintext);
    // Sealed at an older, lower cost: re-sealed at today's cost (the same key, a new salt), atomically.
    if (kdfBelowDefault(keyfile.kdf)) writeAuthorityKeyfile(home, passphrase, plaintext.slice(), 'replace');
    return authority;
  } finally {
    plaintext.fill(0);
  }
}

/** True when HOTLINE_HOME holds an authority keyfile (it is not opened). */
export function authorityExists(home: string): boolean {
  return fs.existsSync(keyfilePath(home));
}

/** Seals `plaintext` (wiped) at today's KDF cost and puts it in place atomically; 'create' refuses an existing keyfile (CONFLICT). */
function writeAuthorityKeyfile(home: string, passphrase: string, plaintext: Uint8Array, mode: 'create' | 'replace'): void {
  const kdf = newKdfParams();
  const key = deriveKey(passphrase, kdf, KEYFILE_KIND);
  let sealedFields: SealedFields;
  try {
    sealedFields = sealPlaintext(KEYFILE_KIND, key, kdf, plaintext);
  } finally {
    key.fill(0);
  }
  const text = `${JSON.stringify({ v: KEYFILE_VERSION, kind: 'authority', ...sealedFields })}\n`;
  try {
    writeFileAtomic(keyfilePath(home), text, mode, `the authority keyfile in ${home}`);
  } catch (cause) {
    if (cause instanceof HotlineError && cause.code === 'CONFLICT') throw alreadyExists(home);
    throw cause;
  }
}

function keyfilePath(home: string): string {
  return path.join(home, AUTHORITY_KEYFILE_NAME);
}

function decodeAuthority(home: string, plaintext: Uint8Array): Authority {
  const data = parseOpenedPlaintext(plaintext, sealedDataSchema);
  if (data === null) throw damaged(home, undefined);
  let secretKey: Uint8Array;
  try {
    secretKey = fromB64u(data.authoritySecret, 64);
  } catch {
    throw damaged(home, undefined);
  }
  const publicKey = secretKey.slice(32);
  const identity: Identity = { kid: keyId(publicKey), keys: { publicKey, secretKey } };
  return Object.freeze({ home, state: data.state, name: data.name, createdAt: data.createdAt, identity });
}

function requirePassphrase(passphrase: string): void {
  if (passphrase === '') throw new HotlineError('BAD_INPUT', 'the passphrase is empty; set HOTLINE_AUTHORITY_PASSPHRASE or HOTLINE_PASSPHRASE');
}

function alreadyExists(home: string): HotlineError {
  return new HotlineError('CONFLICT', `a state authority keyfile already exists in ${home} (${AUTHORITY_KEYFILE_NAME}), and a state has one: nothing to do; keep using it, or choose another HOTLINE_HOME`);
}

function damaged(home: string, cause: unknown): HotlineError {
  return new HotlineError('BAD_INPUT', `the authority keyfile in ${home} is damaged or not a Hotline v${KEYFILE_VERSION} authority keyfile`, { cause });
}
