// The relay's identity key, admin token and metrics token in its data directory: created on first start, 0600, never logged; relay.key sealed under a passphrase when the environment gives one.
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import {
  b64uText,
  bytesEqual,
  createIdentity,
  deriveKey,
  fromB64u,
  HotlineError,
  kdfBelowDefault,
  kdfSchema,
  keyId,
  newKdfParams,
  openKeyfile,
  randomBytes,
  sealPlaintext,
  signingKeyPair,
  toB64u,
  utf8,
  type Identity,
  type KeyfileKind,
} from '../shared/index.ts';
import { requireStrongPassphrase } from '../shared/passphrase-policy.ts';

/** The relay key's passphrase itself. */
export const RELAY_KEY_PASSPHRASE_ENV = 'HOTLINE_RELAY_KEY_PASSPHRASE';
/** A file holding the relay key's passphrase (a systemd credential, a docker secret); one trailing newline is dropped. */
export const RELAY_KEY_PASSPHRASE_FILE_ENV = 'HOTLINE_RELAY_KEY_PASSPHRASE_FILE';

const SEALED_KIND = 'hotline-relay-key';
const RELAY_KEY: KeyfileKind = { aad: utf8('hotline-relay-key-v2'), label: 'the relay key' };

/** v1: the Ed25519 secret key (seed || public key) in the clear, as relays wrote it before sealing existed. */
const plainKeySchema = z.object({ v: z.literal(1), secretKey: b64uText });
/** v2: the same 64 bytes sealed; `kid` is kept outside the seal so the key id can be read without the passphrase. */
const sealedKeySchema = z.strictObject({ v: z.literal(2), kind: z.literal(SEALED_KIND), kid: b64uText, kdf: kdfSchema, sealed: b64uText });

export interface RelayFiles {
  readonly identity: Identity;
  readonly adminToken: string;
  /** Bearer token for GET /metrics only (a scraper holding it has no admin powers). */
  readonly metricsToken: string;
  /** True when this start created the identity or the admin token. */
  readonly created: boolean;
  /** True when this start created the metrics token (a data directory from before it existed gets one too). */
  readonly metricsTokenCreated: boolean;
  /** True when relay.key is sealed under a passphrase (v2); false when it is in the clear (v1). */
  readonly sealed: boolean;
}

function writeSecret(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  chmodSync(path, 0o600);
  // The rename itself is durable only once the directory is synced.
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * The relay key's passphrase from `env`: HOTLINE_RELAY_KEY_PASSPHRASE, or the contents of the file
 * HOTLINE_RELAY_KEY_PASSPHRASE_FILE names (one trailing newline dropped), or null when neither is set. Throws
 * BAD_INPUT when both are set, when the file cannot be read, or when the passphrase is empty (an empty variable is
 * a mistake, not a request to leave the key in the clear).
 * @example const passphrase = relayKeyPassphrase({ HOTLINE_RELAY_KEY_PASSPHRASE_FILE: '/run/credentials/hotline.service/relay-key' });
 */
export function relayKeyPassphrase(env: NodeJS.ProcessEnv = process.env): string | null {
  const direct = env[RELAY_KEY_PASSPHRASE_ENV];
  const file = env[RELAY_KEY_PASSPHRASE_FILE_ENV];
  if (direct !== undefined && file !== undefined) {
    throw new HotlineError('BAD_INPUT', `both ${RELAY_KEY_PASSPHRASE_ENV} and ${RELAY_KEY_PASSPHRASE_FILE_ENV} are set; set only one`);
  }
  if (direct !== undefined) {
    if (direct === '') throw new HotlineError('BAD_INPUT', `${RELAY_KEY_PASSPHRASE_ENV} is set but empty; give it the passphrase, or unset it`);
    return direct;
  }
  if (file === undefined) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new HotlineError('BAD_INPUT', `cannot read the relay key passphrase from ${file} (${RELAY_KEY_PASSPHRASE_FILE_ENV}): ${reason}`, { cause });
  }
  const passphrase = text.replace(/\r?\n$/, '');
  if (passphrase === '') throw new HotlineError('BAD_INPUT', `${file} (${RELAY_KEY_PASSPHRASE_FILE_ENV}) is empty; put the passphrase in it`);
  return passphrase;
}

/**
 * The relay key's passphrase as relayKeyPassphrase reads it, after which both variables are removed from `env`:
 * read once at start, not inherited by worker threads or child processes, not in a later dump of the environment.
 * @example const passphrase = takeRelayKeyPassphrase(); // process.env no longer holds it
 */
export function takeRelayKeyPassphrase(env: NodeJS.ProcessEnv = process.env): string | null {
  try {
    return relayKeyPassphrase(env);
  } finally {
    delete env[RELAY_KEY_PASSPHRASE_ENV];
    delete env[RELAY_KEY_PASSPHRASE_FILE_ENV];
  }
}

function damaged(keyPath: string, cause: unknown): HotlineError {
  return new HotlineError('BAD_INPUT', `${keyPath} is damaged or not a Hotline relay key; restore it from a backup`, { cause });
}

/** The identity a 64-byte Ed25519 secret key (seed || public key) holds, after checking that its halves belong together. */
function identityOf(secretKey: Uint8Array, keyPath: string): Identity {
  if (secretKey.length !== 64) throw damaged(keyPath, new Error(`secret key is ${secretKey.length} bytes, not 64`));
  const sk = secretKey.slice();
  const publicKey = sk.slice(32);
  const rederived = signingKeyPair(sk.subarray(0, 32));
  const matches = bytesEqual(rederived.publicKey, publicKey);
  rederived.secretKey.fill(0);
  if (!matches) throw damaged(keyPath, new Error('the public half does not belong to the secret seed'));
  return { kid: keyId(publicKey), keys: { publicKey, secretKey: sk } };
}

function plainKeyText(identity: Identity): string {
  return `${JSON.stringify({ v: 1, secretKey: toB64u(identity.keys.secretKey) })}\n`;
}

/**
 * relay.key sealed under `passphrase`. A new seal (a new key, or one in the clear sealed in place) applies the
 * passphrase policy; re-sealing a key that already opened with this passphrase (an upgrade of its cost) does not.
 */
function sealedKeyText(identity: Identity, passphrase: string, policy: 'new' | 'upgrade' = 'new'): string {
  if (policy === 'new') requireStrongPassphrase(passphrase, ['relay']);
  const kdf = newKdfParams();
  const key = deriveKey(passphrase, kdf, RELAY_KEY);
  try {
    // sealPlaintext wipes what it is given: a copy, since the relay keeps signing with the key.
    const fields = sealPlaintext(RELAY_KEY, key, kdf, identity.keys.secretKey.slice());
    return `${JSON.stringify({ v: 2, kind: SEALED_KIND, kid: identity.kid, ...fields })}\n`;
  } finally {
    key.fill(0);
  }
}

/** Opens a sealed relay key's text; a wrong passphrase is reported in the relay operator's terms. */
function openSealedKey(keyPath: string, dataDir: string, passphrase: string, text: string) {
  try {
    return openKeyfile(RELAY_KEY, dataDir, passphrase, text, sealedKeySchema, (cause) => damaged(keyPath, cause));
  } catch (cause) {
    if (!(cause instanceof HotlineError && cause.code === 'WRONG_PASSPHRASE')) throw cause;
    throw new HotlineError(
      'WRONG_PASSPHRASE',
      `wrong passphrase for ${keyPath} (or the file was altered): check ${RELAY_KEY_PASSPHRASE_ENV} / ${RELAY_KEY_PASSPHRASE_FILE_ENV}; the file was left as it is`,
      { cause },
    );
  }
}

function readRelayKey(keyPath: string, dataDir: string, passphrase: string | null): { identity: Identity; sealed: boolean; belowCost: boolean } {
  const text = readFileSync(keyPath, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw damaged(keyPath, cause);
  }
  if (typeof json === 'object' && json !== null && 'v' in json && json.v === 1) {
    const plain = plainKeySchema.safeParse(json);
    if (!plain.success) throw damaged(keyPath, plain.error);
    let secretKey: Uint8Array;
    try {
      secretKey = fromB64u(plain.data.secretKey, 64);
    } catch (cause) {
      throw damaged(keyPath, cause);
    }
    return { identity: identityOf(secretKey, keyPath), sealed: false, belowCost: false };
  }
  if (passphrase === null) {
    // Only a file that is a sealed relay key gets this message; anything else is reported damaged.
    const sealed = sealedKeySchema.safeParse(json);
    if (!sealed.success) throw damaged(keyPath, sealed.error);
    throw new HotlineError(
      'WRONG_PASSPHRASE',
      `${keyPath} is sealed and no passphrase was given: set ${RELAY_KEY_PASSPHRASE_ENV}, or ${RELAY_KEY_PASSPHRASE_FILE_ENV} to a file holding it`,
    );
  }
  const { keyfile, key, plaintext } = openSealedKey(keyPath, dataDir, passphrase, text);
  key.fill(0);
  try {
    const identity = identityOf(plaintext, keyPath);
    if (identity.kid !== keyfile.kid) {
      identity.keys.secretKey.fill(0);
      throw damaged(keyPath, new Error(`the file names key ${keyfile.kid} but holds ${identity.kid}`));
    }
    return { identity, sealed: true, belowCost: kdfBelowDefault(keyfile.kdf) };
  } finally {
    plaintext.fill(0);
  }
}

/**
 * Opens the relay's key and admin token in `dataDir`, creating what is missing. With a passphrase (by default from
 * HOTLINE_RELAY_KEY_PASSPHRASE or HOTLINE_RELAY_KEY_PASSPHRASE_FILE) a new key is written sealed and a key still in
 * the clear is sealed in place, the same key under the same kid; without one a new key is written in the clear.
 * Throws WRONG_PASSPHRASE for a sealed key without the passphrase or with another one, BAD_INPUT for a damaged key;
 * the file is left untouched then.
 * @example const files = loadOrCreateRelayFiles(dataDir, 'relay key: ember quarry lantern 58');
 */
export function loadOrCreateRelayFiles(dataDir: string, passphrase: string | null = relayKeyPassphrase()): RelayFiles {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const keyPath = join(dataDir, 'relay.key');
  const tokenPath = join(dataDir, 'admin.token');
  const metricsTokenPath = join(dataDir, 'metrics.token');
  let created = false;
  let identity: Identity;
  if (existsSync(keyPath)) {
    const stored = readRelayKey(keyPath, dataDir, passphrase);
    identity = stored.identity;
    if (!stored.sealed && passphrase !== null) writeSecret(keyPath, sealedKeyText(identity, passphrase));
    // Sealed at an older, lower key-derivation cost: the same key re-sealed at today's (new salt), written atomically.
    else if (stored.belowCost && passphrase !== null) writeSecret(keyPath, sealedKeyText(identity, passphrase, 'upgrade'));
  } else {
    identity = createIdentity();
    writeSecret(keyPath, passphrase === null ? plainKeyText(identity) : sealedKeyText(identity, passphrase));
    created = true;
  }
  if (!existsSync(tokenPath)) {
    writeSecret(tokenPath, `${toB64u(randomBytes(32))}\n`);
    created = true;
  }
  const metricsTokenCreated = !existsSync(metricsTokenPath);
  if (metricsTokenCreated) writeSecret(metricsTokenPath, `${toB64u(randomBytes(32))}\n`);
  return {
    identity,
    adminToken: readFileSync(tokenPath, 'utf8').trim(),
    metricsToken: readFileSync(metricsTokenPath, 'utf8').trim(),
    created,
    metricsTokenCreated,
    sealed: passphrase !== null,
  };
}
