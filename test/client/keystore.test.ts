// Tests for the encrypted keyfile: round trip, passphrase and tamper failures, file modes, prekey rotation and grace.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKeystore, KEYFILE_NAME, keystoreExists, openKeystore } from '../../client/keystore.ts';
import {
  agree,
  agreementKeyPair,
  createIdentity,
  createPrekey,
  deriveKey,
  fromB64u,
  HotlineError,
  initCrypto,
  sealPlaintext,
  utf8,
  PREKEY_GRACE_MS,
  PREKEY_VALIDITY_MS,
  toB64u,
  type ErrorCode,
} from '../../shared/index.ts';
import { T0 } from '../helpers/fixed-keys.ts';

const PASSPHRASE = 'duty desk: marble thistle comet 82';
const NAME = 'US National Military Command Center';
const DAY = 24 * 3600 * 1000;

let tmp: string;
let home: string;

beforeAll(initCrypto);

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hotline-keystore-'));
  home = path.join(tmp, 'home');
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function expectCode(run: () => unknown, code: ErrorCode): HotlineError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(HotlineError);
    expect((error as HotlineError).code).toBe(code);
    return error as HotlineError;
  }
  throw new Error(`expected HotlineError ${code}, nothing was thrown`);
}

function keyfilePath(): string {
  return path.join(home, KEYFILE_NAME);
}

function readKeyfile(): { v: number; kdf: Record<string, unknown>; sealed: string } {
  return JSON.parse(fs.readFileSync(keyfilePath(), 'utf8')) as { v: number; kdf: Record<string, unknown>; sealed: string };
}

describe('keystore', () => {
  it('opens a created keyfile with the same identity, name and prekey', () => {
    const created = createKeystore(home, PASSPHRASE, NAME, T0);
    const opened = openKeystore(home, PASSPHRASE);
    expect(opened.identity.kid).toBe(created.identity.kid);
    expect(opened.identity.keys.secretKey).toEqual(created.identity.keys.secretKey);
    expect(opened.identity.keys.publicKey).toEqual(created.identity.keys.publicKey);
    expect(opened.name).toBe(NAME);
    expect(opened.createdAt).toBe(T0);
    expect(opened.currentPrekey(T0)).toEqual(created.currentPrekey(T0));
    expect(opened.prekeySecrets()).toEqual(created.prekeySecrets());
  });

  it('derives the public key and kid from the stored secret key', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    expect(keystore.identity.keys.publicKey).toEqual(keystore.identity.keys.secretKey.slice(32));
    expect(keystore.identity.kid).toBe(toB64u(keystore.identity.keys.publicKey));
    expect(keystore.currentPrekey(T0).owner).toBe(keystore.identity.kid);
  });

  it('writes the keyfile format v1 with scrypt parameters (N=2^17, r=8) and a 16-byte salt', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    const keyfile = readKeyfile();
    expect(keyfile.v).toBe(1);
    expect(keyfile.kdf).toMatchObject({ alg: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    expect(fromB64u(keyfile.kdf['salt'] as string)).toHaveLength(16);
  });

  it('reports a keyfile only once one is created', () => {
    expect(keystoreExists(home)).toBe(false);
    createKeystore(home, PASSPHRASE, NAME, T0);
    expect(keystoreExists(home)).toBe(true);
  });

  it('refuses a wrong passphrase with WRONG_PASSPHRASE', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    const error = expectCode(() => openKeystore(home, 'wrong horse battery staple'), 'WRONG_PASSPHRASE');
    expect(error.message).toBe(`wrong passphrase for the keyfile in ${home}`);
  });

  it('reports NO_IDENTITY when there is no keyfile', () => {
    expectCode(() => openKeystore(home, PASSPHRASE), 'NO_IDENTITY');
  });

  it('refuses an empty passphrase with BAD_INPUT', () => {
    expectCode(() => createKeystore(home, '', NAME, T0), 'BAD_INPUT');
    expect(keystoreExists(home)).toBe(false);
  });

  it('refuses to create a second keyfile over the first and leaves it unchanged', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    const before = fs.readFileSync(keyfilePath());
    expectCode(() => createKeystore(home, 'another passphrase', 'Impostor', T0), 'CONFLICT');
    expect(fs.readFileSync(keyfilePath())).toEqual(before);
  });

  it('writes the keyfile with mode 0600 in a home with mode 0700', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    expect(fs.statSync(keyfilePath()).mode & 0o777).toBe(0o600);
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
  });

  it('tightens an existing home directory to mode 0700', () => {
    fs.mkdirSync(home, { mode: 0o755 });
    fs.chmodSync(home, 0o755);
    createKeystore(home, PASSPHRASE, NAME, T0);
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
  });

  it('keeps the keyfile mode 0600 and leaves no temp files after a rotation', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    keystore.rotatePrekey(T0 + DAY);
    expect(fs.statSync(keyfilePath()).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(home)).toEqual([KEYFILE_NAME]);
  });

  it('keeps neither the identity secret nor the name in clear in the keyfile', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    const bytes = fs.readFileSync(keyfilePath()).toString('latin1');
    expect(bytes).not.toContain(toB64u(keystore.identity.keys.secretKey));
    expect(bytes).not.toContain(toB64u(keystore.identity.keys.secretKey.slice(0, 32)));
    expect(bytes).not.toContain(NAME);
    for (const secret of keystore.prekeySecrets().values()) expect(bytes).not.toContain(toB64u(secret));
  });

  it('refuses a keyfile with one changed byte in the sealed field as WRONG_PASSPHRASE', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    const keyfile = readKeyfile();
    const sealed = fromB64u(keyfile.sealed);
    sealed[40] = (sealed[40] ?? 0) ^ 0x01;
    fs.writeFileSync(keyfilePath(), JSON.stringify({ ...keyfile, sealed: toB64u(sealed) }));
    expectCode(() => openKeystore(home, PASSPHRASE), 'WRONG_PASSPHRASE');
  });

  it('refuses a keyfile that is not JSON with BAD_INPUT', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    fs.writeFileSync(keyfilePath(), 'not a keyfile');
    expectCode(() => openKeystore(home, PASSPHRASE), 'BAD_INPUT');
  });

  it('does not rotate a prekey that has more than half of its validity left', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    const before = fs.readFileSync(keyfilePath());
    expect(keystore.rotatePrekeyIfDue(T0 + DAY)).toBeNull();
    expect(keystore.prekeySecrets().size).toBe(1);
    expect(fs.readFileSync(keyfilePath())).toEqual(before);
  });

  it('rotates a prekey past its half-life and makes the new one current', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    const first = keystore.currentPrekey(T0);
    const now = T0 + PREKEY_VALIDITY_MS / 2 + 1;
    const rotated = keystore.rotatePrekeyIfDue(now);
    expect(rotated).not.toBeNull();
    expect(rotated?.prekeyId).not.toBe(first.prekeyId);
    expect(rotated?.notBefore).toBe(now);
    expect(rotated?.notAfter).toBe(now + PREKEY_VALIDITY_MS);
    expect(keystore.currentPrekey(now)).toEqual(rotated);
    expect([...keystore.prekeySecrets().keys()].sort()).toEqual([first.prekeyId, rotated?.prekeyId].sort());
  });

  it('rotates an expired prekey', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    const now = T0 + PREKEY_VALIDITY_MS + DAY;
    expectCode(() => keystore.currentPrekey(now), 'PREKEY_EXPIRED');
    const rotated = keystore.rotatePrekeyIfDue(now);
    expect(rotated).not.toBeNull();
    expect(keystore.currentPrekey(now)).toEqual(rotated);
  });

  it('prunes prekeys whose grace period has ended', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    const first = keystore.currentPrekey(T0);
    const second = keystore.rotatePrekey(T0 + 4 * DAY);
    const third = keystore.rotatePrekey(first.notAfter + PREKEY_GRACE_MS + 1);
    const kept = [...keystore.prekeySecrets().keys()].sort();
    expect(kept).toEqual([second.prekeyId, third.prekeyId].sort());
    expect(openKeystore(home, PASSPHRASE).prekeySecrets().has(first.prekeyId)).toBe(false);
  });

  it('keeps the old prekey secret within grace across a reopen, so old envelopes still open', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    const old = keystore.currentPrekey(T0);
    // A sender's ephemeral agreement with the old prekey, as an envelope made before the rotation carries.
    const ephemeral = agreementKeyPair();
    const senderSecret = agree(ephemeral.secretKey, fromB64u(old.publicKey, 32));
    const now = old.notAfter + PREKEY_GRACE_MS - DAY;
    expect(keystore.rotatePrekeyIfDue(now)).not.toBeNull();

    const reopened = openKeystore(home, PASSPHRASE);
    const oldSecret = reopened.prekeySecrets().get(old.prekeyId);
    expect(oldSecret).toBeDefined();
    expect(agree(oldSecret ?? new Uint8Array(32), ephemeral.publicKey)).toEqual(senderSecret);
  });

  it('keeps the salt and scrypt parameters when it saves a rotation', () => {
    const keystore = createKeystore(home, PASSPHRASE, NAME, T0);
    const before = readKeyfile();
    keystore.rotatePrekey(T0 + DAY);
    const after = readKeyfile();
    expect(after.kdf).toEqual(before.kdf);
    expect(after.sealed).not.toBe(before.sealed);
  });
});

/** A keyfile as every version before the KDF raise wrote it: scrypt N=2^15, r=8, p=1, same layout and associated data. */
function writeLegacyKeyfile(passphrase: string): { kid: string; prekeyId: string } {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const identity = createIdentity();
  // Keyfiles of that time held X25519-only prekeys.
  const first = createPrekey(identity, T0, undefined, { kemSeed: null });
  const kdf = { alg: 'scrypt' as const, N: 2 ** 15, r: 8 as const, p: 1, salt: toB64u(new Uint8Array(16).fill(7)) };
  const kind = { aad: utf8('hotline-keyfile-v1'), label: 'the keyfile' };
  const plaintext = utf8(JSON.stringify({ name: NAME, createdAt: T0, identitySecret: toB64u(identity.keys.secretKey), prekeys: [{ prekey: first.prekey, secretKey: toB64u(first.secretKey) }] }));
  const key = deriveKey(passphrase, kdf, kind);
  fs.writeFileSync(keyfilePath(), `${JSON.stringify({ v: 1, ...sealPlaintext(kind, key, kdf, plaintext) })}\n`, { mode: 0o600 });
  return { kid: identity.kid, prekeyId: first.prekey.prekeyId };
}

describe('keystore: KDF cost and old keyfiles', () => {
  it('opens a keyfile sealed at the old cost (N=2^15) and re-seals it at the new cost, same secrets', () => {
    const legacy = writeLegacyKeyfile(PASSPHRASE);
    const opened = openKeystore(home, PASSPHRASE);
    expect(opened.identity.kid).toBe(legacy.kid);
    const after = readKeyfile();
    expect(after.kdf).toMatchObject({ alg: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    expect(after.kdf['salt']).not.toBe(toB64u(new Uint8Array(16).fill(7)));
    expect(fs.statSync(keyfilePath()).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(home)).toEqual([KEYFILE_NAME]);
    // The upgraded file opens with the same passphrase, holds the same identity and prekey, and is not re-sealed again.
    const before = fs.readFileSync(keyfilePath());
    const again = openKeystore(home, PASSPHRASE);
    expect(again.identity.kid).toBe(legacy.kid);
    expect([...again.prekeySecrets().keys()]).toEqual([legacy.prekeyId]);
    expect(fs.readFileSync(keyfilePath())).toEqual(before);
  });

  it('replaces the X25519-only prekey of an old keyfile with a hybrid one at once, and keeps its ML-KEM seed', () => {
    const legacy = writeLegacyKeyfile(PASSPHRASE);
    const opened = openKeystore(home, PASSPHRASE);
    expect(opened.kemKeys().size).toBe(0);
    const fresh = opened.rotatePrekeyIfDue(T0 + 1000);
    expect(fresh?.kemPublicKey).toBeDefined();
    expect(opened.currentPrekey(T0 + 1000).prekeyId).toBe(fresh?.prekeyId);
    // The old prekey's secret is kept for its grace period: envelopes sealed to it still open.
    expect([...opened.prekeySecrets().keys()].sort()).toEqual([legacy.prekeyId, fresh?.prekeyId].sort());
    const again = openKeystore(home, PASSPHRASE);
    const kem = again.kemKeys().get(fresh?.prekeyId ?? '');
    expect(kem && toB64u(kem.publicKey)).toBe(fresh?.kemPublicKey);
    expect(again.rotatePrekeyIfDue(T0 + 2000)).toBeNull();
  });

  it('refuses an old keyfile with a wrong passphrase (WRONG_PASSPHRASE) and leaves it as it was', () => {
    writeLegacyKeyfile(PASSPHRASE);
    const before = fs.readFileSync(keyfilePath());
    expectCode(() => openKeystore(home, 'wrong horse battery staple'), 'WRONG_PASSPHRASE');
    expect(fs.readFileSync(keyfilePath())).toEqual(before);
  });

  it('does not open a keyfile whose cost was lowered in the file (the parameters are inputs of the key) and does not rewrite it', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    const keyfile = readKeyfile();
    const lowered = JSON.stringify({ ...keyfile, kdf: { ...keyfile.kdf, N: 2 ** 15 } });
    fs.writeFileSync(keyfilePath(), lowered);
    expectCode(() => openKeystore(home, PASSPHRASE), 'WRONG_PASSPHRASE');
    expect(fs.readFileSync(keyfilePath(), 'utf8')).toBe(lowered);
  });

  it('refuses a cost below the floor (N=2^14) or above the ceiling as a damaged file, before running scrypt', () => {
    createKeystore(home, PASSPHRASE, NAME, T0);
    const keyfile = readKeyfile();
    for (const N of [2 ** 14, 2 ** 10, 2 ** 20]) {
      fs.writeFileSync(keyfilePath(), JSON.stringify({ ...keyfile, kdf: { ...keyfile.kdf, N } }));
      const started = performance.now();
      expectCode(() => openKeystore(home, PASSPHRASE), 'BAD_INPUT');
      expect(performance.now() - started).toBeLessThan(100);
    }
    fs.writeFileSync(keyfilePath(), JSON.stringify({ ...keyfile, kdf: { ...keyfile.kdf, r: 1 } }));
    expectCode(() => openKeystore(home, PASSPHRASE), 'BAD_INPUT');
  });
});

describe('keystore: passphrase policy on creation', () => {
  it('refuses "42" with WEAK_PASSPHRASE, a message that says why and how, and writes nothing', () => {
    const error = expectCode(() => createKeystore(home, '42', NAME, T0), 'WEAK_PASSPHRASE');
    expect(error.message).toContain('passphrase too short');
    expect(error.message).toContain('4 or more unrelated words');
    expect(keystoreExists(home)).toBe(false);
  });

  it('refuses a long but common passphrase, one built from the name it protects, and the published example', () => {
    const common = expectCode(() => createKeystore(home, 'password1234567', NAME, T0), 'WEAK_PASSPHRASE');
    expect(common.message).toMatch(/passphrase too weak: .* would be guessed in .* offline/);
    expect(common.message).not.toContain('password1234567');
    expectCode(() => createKeystore(home, NAME, NAME, T0), 'WEAK_PASSPHRASE');
    // The published example every cracking list holds (zxcvbn's own dictionaries do not).
    expectCode(() => createKeystore(home, 'correct horse battery staple', NAME, T0), 'WEAK_PASSPHRASE');
    expect(keystoreExists(home)).toBe(false);
  });

  it('never applies the policy when unlocking: an old keyfile with a weak passphrase still opens', () => {
    const legacy = writeLegacyKeyfile('42');
    expect(openKeystore(home, '42').identity.kid).toBe(legacy.kid);
  });
});
