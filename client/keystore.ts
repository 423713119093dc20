// The PoC's encrypted keyfile in HOTLINE_HOME: identity and prekey secrets sealed under a passphrase-derived key.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
  createIdentity,
  createPrekey,
  fromB64u,
  hash,
  HotlineError,
  keyId,
  kemKeyPair,
  KEM_SEED_BYTES,
  PREKEY_GRACE_MS,
  PREKEY_VALIDITY_MS,
  signedPrekeySchema,
  timestampSchema,
  toB64u,
  utf8,
  type Identity,
  type KemKeyPair,
  type SignedPrekey,
} from '../shared/index.ts';
import { requireStrongPassphrase } from '../shared/passphrase-policy.ts';
import { errnoCode, ioError, writeFileAtomic } from './authority/atomic-file.ts';
import { b64uText, deriveKey, kdfBelowDefault, kdfSchema, newKdfParams, openKeyfile, parseOpenedPlaintext, sealPlaintext, type KdfParams, type KeyfileKind } from './keyfile-sealing.ts';

/** The keyfile's name inside HOTLINE_HOME. */
export const KEYFILE_NAME = 'identity.key';

/** What the keyfile holds once opened (the sealed JSON carries the byte fields as base64url). */
export interface KeystoreData {
  name: string;
  createdAt: number;
  /** 64-byte Ed25519 secret key (seed || public key). */
  identitySecret: Uint8Array;
  prekeys: KeptPrekey[];
}

/** One prekey and its secrets: the X25519 secret, and the ML-KEM-768 seed of a hybrid prekey (null for an old one). */
export interface KeptPrekey {
  prekey: SignedPrekey;
  secretKey: Uint8Array;
  kemSeed: Uint8Array | null;
}

const KEYFILE_VERSION = 1;
const KEYFILE_KIND: KeyfileKind = { aad: utf8('hotline-keyfile-v1'), label: 'the keyfile' };
const MAX_NAME_CHARS = 200;
/** Domain separation for the history key: BLAKE2b-256(context || identity seed) is used for nothing else. */
const HISTORY_KEY_CONTEXT = utf8('hotline-history-key-v1');

const keyfileSchema = z.strictObject({
  v: z.literal(KEYFILE_VERSION),
  kdf: kdfSchema,
  sealed: b64uText,
});

const sealedDataSchema = z.strictObject({
  name: z.string().min(1).max(MAX_NAME_CHARS),
  createdAt: timestampSchema,
  identitySecret: b64uText,
  prekeys: z
    // kemSeed: only on hybrid prekeys (keyfiles written before hybrid wrapping have none and still open).
    .array(z.strictObject({ prekey: signedPrekeySchema, secretKey: b64uText, kemSeed: b64uText.optional() }))
    .min(1),
});

/** The derived key and the parameters it came from, so a save re-uses them without re-deriving. */
interface Sealing {
  readonly kdf: KdfParams;
  readonly key: Uint8Array;
}

/**
 * An opened keyfile: the PoC's identity and its prekey secrets. Get one from `createKeystore` or
 * `openKeystore`; rotations are written back to the keyfile before they take effect here.
 */
export class Keystore {
  readonly home: string;
  readonly name: string;
  readonly createdAt: number;
  readonly identity: Identity;
  readonly #sealing: Sealing;
  #prekeys: readonly KeptPrekey[];
  /** ML-KEM key pairs derived from the kept seeds, by prekey id (key generation costs more than one decapsulation). */
  #kemKeys: Map<string, KemKeyPair> | null = null;

  /** @internal Use `createKeystore` or `openKeystore`. */
  constructor(home: string, data: KeystoreData, sealing: Sealing) {
    this.home = home;
    this.name = data.name;
    this.createdAt = data.createdAt;
    this.identity = identityFromSecret(data.identitySecret);
    this.#sealing = sealing;
    this.#prekeys = [...data.prekeys];
  }

  /**
   * The 32-byte key that seals message content in history.db (client/history.ts): derived from the identity's
   * secret seed under its own context, so it is as safe as the keyfile and every home has it without a migration
   * of the keyfile. A fresh copy each call; the caller may wipe it.
   */
  historyKey(): Uint8Array {
    return hash(HISTORY_KEY_CONTEXT, this.identity.keys.secretKey.subarray(0, 32));
  }

  /** The newest prekey whose validity window contains `now`; throws PREKEY_EXPIRED when there is none. */
  currentPrekey(now: number): SignedPrekey {
    let current: SignedPrekey | null = null;
    for (const { prekey } of this.#prekeys) {
      if (now < prekey.notBefore || now > prekey.notAfter) continue;
      if (current === null || prekey.notBefore > current.notBefore) current = prekey;
    }
    if (current === null) {
      throw new HotlineError('PREKEY_EXPIRED', `no prekey in the keyfile in ${this.home} is valid now; rotate the prekey`);
    }
    return current;
  }

  /** prekeyId → X25519 secret for every prekey still kept (the current one and those within grace). */
  prekeySecrets(): ReadonlyMap<string, Uint8Array> {
    return new Map(this.#prekeys.map(({ prekey, secretKey }) => [prekey.prekeyId, secretKey]));
  }

  /** prekeyId → ML-KEM-768 key pair for every kept hybrid prekey. Throws BAD_INPUT when a seed does not give the published key. */
  kemKeys(): ReadonlyMap<string, KemKeyPair> {
    if (this.#kemKeys === null) {
      const keys = new Map<string, KemKeyPair>();
      for (const { prekey, kemSeed } of this.#prekeys) {
        if (kemSeed === null || prekey.kemPublicKey === undefined) continue;
        const kp = kemKeyPair(kemSeed);
        if (toB64u(kp.publicKey) !== prekey.kemPublicKey) throw damaged(this.home, new Error('an ML-KEM seed does not match its prekey'));
        keys.set(prekey.prekeyId, kp);
      }
      this.#kemKeys = keys;
    }
    return this.#kemKeys;
  }

  /**
   * Rotates when the newest prekey has less than half of its validity left (or has expired),
   * pruning prekeys past their grace period; returns the new prekey, or null when none was due.
   */
  rotatePrekeyIfDue(now: number, validityMs = PREKEY_VALIDITY_MS): SignedPrekey | null {
    const newest = this.#newestPrekey();
    // A newest prekey without an ML-KEM key (made before hybrid wrapping) is replaced at once, so that a charter
    // requiring hybrid wrapping can be met as soon as every client has run once.
    if (newest !== null && newest.kemPublicKey !== undefined) {
      const halfLife = (newest.notAfter - newest.notBefore) / 2;
      if (newest.notAfter - now >= halfLife) return null;
    }
    return this.rotatePrekey(now, validityMs);
  }

  /** Always makes a new prekey valid from `now`, prunes prekeys past grace, saves, and returns it. */
  rotatePrekey(now: number, validityMs = PREKEY_VALIDITY_MS): SignedPrekey {
    const fresh = createPrekey(this.identity, now, validityMs);
    const kept = this.#prekeys.filter(({ prekey }) => prekey.notAfter + PREKEY_GRACE_MS >= now);
    const prekeys = [...kept, { prekey: fresh.prekey, secretKey: fresh.secretKey, kemSeed: fresh.kemSeed }];
    writeKeyfile(this.home, this.#sealing, this.#dataWith(prekeys), 'replace');
    this.#prekeys = prekeys;
    this.#kemKeys = null;
    return fresh.prekey;
  }

  #newestPrekey(): SignedPrekey | null {
    let newest: SignedPrekey | null = null;
    for (const { prekey } of this.#prekeys) {
      if (newest === null || prekey.notBefore > newest.notBefore) newest = prekey;
    }
    return newest;
  }

  #dataWith(prekeys: KeystoreData['prekeys']): KeystoreData {
    return { name: this.name, createdAt: this.createdAt, identitySecret: this.identity.keys.secretKey, prekeys };
  }
}

/**
 * Creates HOTLINE_HOME (mode 0700) and a new keyfile in it with a fresh identity and first prekey.
 * Callers must have awaited `initCrypto()` from shared first. Throws BAD_INPUT for an empty
 * passphrase or name, WEAK_PASSPHRASE for a passphrase the policy refuses (shared/passphrase-policy.ts),
 * CONFLICT when a keyfile is already there.
 * @example const keystore = createKeystore(home, process.env.HOTLINE_PASSPHRASE ?? '', 'US PoC', Date.now());
 */
export function createKeystore(home: string, passphrase: string, name: string, now: number): Keystore {
  requirePassphrase(passphrase);
  if (name.trim() === '' || name.length > MAX_NAME_CHARS) {
    throw new HotlineError('BAD_INPUT', `the name must be 1 to ${MAX_NAME_CHARS} characters`);
  }
  requireStrongPassphrase(passphrase, [name]);
  try {
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    fs.chmodSync(home, 0o700);
  } catch (cause) {
    throw ioError(`cannot create HOTLINE_HOME at ${home}`, cause);
  }
  if (keystoreExists(home)) throw alreadyExists(home);

  const kdf = newKdfParams();
  const sealing: Sealing = { kdf, key: deriveKey(passphrase, kdf, KEYFILE_KIND) };
  const identity = createIdentity();
  const first = createPrekey(identity, now);
  const data: KeystoreData = {
    name,
    createdAt: now,
    identitySecret: identity.keys.secretKey,
    prekeys: [{ prekey: first.prekey, secretKey: first.secretKey, kemSeed: first.kemSeed }],
  };
  writeKeyfile(home, sealing, data, 'create');
  return new Keystore(home, data, sealing);
}

/**
 * Opens the keyfile in HOTLINE_HOME. Callers must have awaited `initCrypto()` from shared first. A keyfile sealed
 * at a lower KDF cost than today's (shared/sealing.ts) is re-sealed at today's cost, same secrets, atomically.
 * Throws NO_IDENTITY when there is no keyfile, WRONG_PASSPHRASE when it does not decrypt (a wrong
 * passphrase and a tampered file look the same), BAD_INPUT for an empty passphrase or a damaged file.
 */
export function openKeystore(home: string, passphrase: string): Keystore {
  requirePassphrase(passphrase);
  const file = path.join(home, KEYFILE_NAME);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    if (errnoCode(cause) === 'ENOENT') {
      throw new HotlineError('NO_IDENTITY', `no keyfile in ${home}; run \`hotline init --name NAME\` first`);
    }
    throw ioError(`cannot read the keyfile in ${home}`, cause);
  }

  const { keyfile, key, plaintext } = openKeyfile(KEYFILE_KIND, home, passphrase, text, keyfileSchema, (cause) => damaged(home, cause));
  let data: KeystoreData;
  try {
    data = decodeData(home, plaintext);
  } finally {
    plaintext.fill(0);
  }
  if (!kdfBelowDefault(keyfile.kdf)) return new Keystore(home, data, { kdf: keyfile.kdf, key });

  // Sealed at an older, lower cost: the same secrets are re-sealed at today's cost (new salt, new key) and put in
  // place atomically before the keystore is used; a failed write leaves the old file, which still opens.
  key.fill(0);
  const kdf = newKdfParams();
  const sealing: Sealing = { kdf, key: deriveKey(passphrase, kdf, KEYFILE_KIND) };
  writeKeyfile(home, sealing, data, 'replace');
  return new Keystore(home, data, sealing);
}

/** True when HOTLINE_HOME holds a keyfile (it is not opened). */
export function keystoreExists(home: string): boolean {
  return fs.existsSync(path.join(home, KEYFILE_NAME));
}

function identityFromSecret(secretKey: Uint8Array): Identity {
  const publicKey = secretKey.slice(32);
  return { kid: keyId(publicKey), keys: { publicKey, secretKey } };
}

function requirePassphrase(passphrase: string): void {
  if (passphrase === '') {
    throw new HotlineError('BAD_INPUT', 'the passphrase is empty; set HOTLINE_PASSPHRASE');
  }
}

function encodeData(data: KeystoreData): Uint8Array {
  const sealedData: z.infer<typeof sealedDataSchema> = {
    name: data.name,
    createdAt: data.createdAt,
    identitySecret: toB64u(data.identitySecret),
    prekeys: data.prekeys.map(({ prekey, secretKey, kemSeed }) => ({ prekey, secretKey: toB64u(secretKey), ...(kemSeed === null ? {} : { kemSeed: toB64u(kemSeed) }) })),
  };
  return utf8(JSON.stringify(sealedData));
}

function decodeData(home: string, plaintext: Uint8Array): KeystoreData {
  const sealedData = parseOpenedPlaintext(plaintext, sealedDataSchema);
  if (sealedData === null) throw damaged(home, undefined);
  let identitySecret: Uint8Array;
  let prekeys: KeystoreData['prekeys'];
  try {
    identitySecret = fromB64u(sealedData.identitySecret, 64);
    prekeys = sealedData.prekeys.map(({ prekey, secretKey, kemSeed }) => ({
      prekey,
      secretKey: fromB64u(secretKey, 32),
      kemSeed: kemSeed === undefined ? null : fromB64u(kemSeed, KEM_SEED_BYTES),
    }));
  } catch (cause) {
    throw damaged(home, cause);
  }
  const kid = keyId(identitySecret.subarray(32));
  if (prekeys.some(({ prekey }) => prekey.owner !== kid)) throw damaged(home, undefined);
  if (prekeys.some(({ prekey, kemSeed }) => (prekey.kemPublicKey === undefined) !== (kemSeed === null))) throw damaged(home, undefined);
  return { name: sealedData.name, createdAt: sealedData.createdAt, identitySecret, prekeys };
}

/**
 * Seals `data` and puts it in place atomically (client/authority/atomic-file.ts): 'replace' renames over the
 * keyfile; 'create' refuses an existing keyfile even in a race (CONFLICT).
 */
function writeKeyfile(home: string, sealing: Sealing, data: KeystoreData, mode: 'create' | 'replace'): void {
  const text = `${JSON.stringify({ v: KEYFILE_VERSION, ...sealPlaintext(KEYFILE_KIND, sealing.key, sealing.kdf, encodeData(data)) })}\n`;
  try {
    writeFileAtomic(path.join(home, KEYFILE_NAME), text, mode, `the keyfile in ${home}`);
  } catch (cause) {
    if (cause instanceof HotlineError && cause.code === 'CONFLICT') throw alreadyExists(home);
    throw cause;
  }
}

function alreadyExists(home: string): HotlineError {
  return new HotlineError('CONFLICT', `a keyfile already exists in ${home}; open it, or choose another HOTLINE_HOME`);
}

function damaged(home: string, cause: unknown): HotlineError {
  return new HotlineError('BAD_INPUT', `the keyfile in ${home} is damaged or not a Hotline v${KEYFILE_VERSION} keyfile`, { cause });
}
