// Secrets on a PoC's machine, as whoever copies its home (or shares the machine) would try them: passphrases gone from
// the environment, weak ones refused at creation, old authority keyfiles upgraded, history content sealed, every file 0600.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHORITY_KEYFILE_NAME, createAuthority, openAuthority } from '../../client/authority/authority-keystore.ts';
import { authorityPassphrase, passphrase, takePassphrases } from '../../client/cli/context.ts';
import { witnessFileOf, writeWitnessFile } from '../../client/evidence/witness-file.ts';
import { HistoryStore } from '../../client/history.ts';
import type { HotlineClient } from '../../client/hotline-client.ts';
import { KEYFILE_NAME } from '../../client/keystore.ts';
import { loadOrCreateRelayFiles } from '../../server/relay-files.ts';
import { createIdentity, deriveKey, initCrypto, sealPlaintext, toB64u, utf8 } from '../../shared/index.ts';
import { hotline, hotlineJson } from '../helpers/cli.ts';
import { enrolPoc, pocClient, whenConnected, type EnrolledPoc } from '../helpers/poc.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

const root = tempDir('secrets-at-rest');
const SUBJECT = 'Substation 7 canary subject';
const TEXT = 'Scanning from 198.51.100.0/24 canary text';
let relay: TestRelay;
let us: EnrolledPoc;
let cn: EnrolledPoc;
const clients: HotlineClient[] = [];
const umaskBefore = process.umask();

function mode(path: string): string {
  return (fs.statSync(path).mode & 0o777).toString(8);
}

/** Every byte of a history: the database and its -wal and -shm, as a copy of the home would carry them. */
function historyBytes(home: string): Buffer {
  const parts = ['history.db', 'history.db-wal', 'history.db-shm'].map((f) => join(home, f)).filter((f) => fs.existsSync(f));
  return Buffer.concat(parts.map((f) => fs.readFileSync(f)));
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

beforeAll(async () => {
  // The umask a library user's process usually has: files the SDK makes must be 0600 regardless.
  process.umask(0o022);
  await initCrypto();
  relay = await startTestRelay();
  us = await enrolPoc(relay, { root, label: 'us', state: 'US', name: 'US CERT duty officer' });
  cn = await enrolPoc(relay, { root, label: 'cn', state: 'CN', name: 'CN CERT duty officer' });
  await chartered(relay, 'US-CN', [us, cn]);
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  await relay?.dispose();
  process.umask(umaskBefore);
  fs.rmSync(root, { recursive: true, force: true });
});

describe('passphrases from the environment', () => {
  it('are read once (NAME or NAME_FILE), removed from process.env, kept for a second unlock, and not inherited by a child', async () => {
    const file = join(root, 'authority-passphrase');
    fs.writeFileSync(file, 'authority: violet harbour kettle 58\n', { mode: 0o600 });
    process.env.HOTLINE_PASSPHRASE = 'poc: copper meadow signal 17';
    process.env.HOTLINE_AUTHORITY_PASSPHRASE_FILE = file;
    takePassphrases();
    for (const name of ['HOTLINE_PASSPHRASE', 'HOTLINE_PASSPHRASE_FILE', 'HOTLINE_AUTHORITY_PASSPHRASE', 'HOTLINE_AUTHORITY_PASSPHRASE_FILE']) {
      expect(process.env[name]).toBeUndefined();
    }
    expect(await passphrase('unlock')).toBe('poc: copper meadow signal 17');
    expect(await authorityPassphrase('unlock')).toBe('authority: violet harbour kettle 58');
    // A second keyfile opened in the same process (listen reconnecting, an authority and a PoC key in one folder).
    expect(await passphrase('unlock')).toBe('poc: copper meadow signal 17');
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(Object.keys(process.env).filter((k) => k.includes("PASSPHRASE"))))'], { encoding: 'utf8' });
    expect(JSON.parse(child.stdout)).toEqual([]);
  });

  it('lets the CLI create and open a keyfile with HOTLINE_PASSPHRASE_FILE alone', async () => {
    const home = join(root, 'cli-file');
    const file = join(root, 'poc-passphrase');
    fs.writeFileSync(file, 'duty desk: granite orchard beacon 23\n', { mode: 0o600 });
    const env = { home, extra: { HOTLINE_PASSPHRASE_FILE: file } };
    const created = await hotlineJson<{ kid: string }>(['init', '--name', 'US CERT duty officer'], env);
    // join unlocks the keyfile (it signs with the identity key): with the passphrase from the file alone.
    const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state: 'US', role: 'poc' });
    const joined = await hotlineJson<{ state: string; kid: string }>(['join', invite, '--relay', relay.url], env);
    expect(joined).toMatchObject({ state: 'US' });
    expect((await hotlineJson<{ kid: string }>(['whoami'], env)).kid).toBe(created.kid);
    fs.writeFileSync(file, 'not the passphrase at all, sorry\n');
    const refused = await hotline(['join', invite, '--relay', relay.url], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[WRONG_PASSPHRASE]');
  });
});

describe('passphrase policy at creation (CLI)', () => {
  it('refuses `hotline init` with "42": one line that says why and how, exit 1, no keyfile', async () => {
    const home = join(root, 'weak-init');
    const r = await hotline(['init', '--name', 'US CERT duty officer'], { home, passphrase: '42' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/passphrase too short .* would be guessed in .* offline; use 4 or more unrelated words.*\[WEAK_PASSPHRASE\]/);
    expect(fs.existsSync(join(home, KEYFILE_NAME))).toBe(false);
  });

  it('refuses `hotline authority init` with a common password, and --json says WEAK_PASSPHRASE', async () => {
    const home = join(root, 'weak-authority');
    const r = await hotline(['authority', 'init', '--state', 'US', '--name', 'US national CERT', '--json'], { home, passphrase: 'password1234567' });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'WEAK_PASSPHRASE', message: expect.stringContaining('passphrase too weak') } });
    expect(fs.existsSync(join(home, AUTHORITY_KEYFILE_NAME))).toBe(false);
  });
});

describe('passphrase policy when the relay key is first sealed', () => {
  it('refuses a weak relay key passphrase for a new key and for sealing a plain one in place, leaving the file as it was', () => {
    const fresh = join(root, 'relay-weak-new');
    expect(() => loadOrCreateRelayFiles(fresh, '42')).toThrow(expect.objectContaining({ code: 'WEAK_PASSPHRASE' }));
    expect(fs.existsSync(join(fresh, 'relay.key'))).toBe(false);

    const plain = join(root, 'relay-weak-plain');
    const kid = loadOrCreateRelayFiles(plain, null).identity.kid;
    const before = fs.readFileSync(join(plain, 'relay.key'));
    expect(() => loadOrCreateRelayFiles(plain, 'password1234567')).toThrow(expect.objectContaining({ code: 'WEAK_PASSPHRASE' }));
    expect(fs.readFileSync(join(plain, 'relay.key'))).toEqual(before);
    const sealed = loadOrCreateRelayFiles(plain, 'relay desk: walnut glacier sonnet 19');
    expect(sealed).toMatchObject({ sealed: true, identity: { kid } });
    expect(JSON.parse(fs.readFileSync(join(plain, 'relay.key'), 'utf8')).kdf.N).toBe(2 ** 17);
  });
});

describe('authority keyfile: KDF cost', () => {
  it('opens an authority keyfile sealed at the old cost (N=2^15) and re-seals it at N=2^17 with the same key', () => {
    const home = join(root, 'legacy-authority');
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    const identity = createIdentity();
    const kdf = { alg: 'scrypt' as const, N: 2 ** 15, r: 8 as const, p: 1, salt: toB64u(new Uint8Array(16).fill(3)) };
    const kind = { aad: utf8('hotline-authority-keyfile-v1'), label: 'the authority keyfile' };
    const phrase = 'authority: amber lantern quarry 41';
    const plaintext = utf8(JSON.stringify({ state: 'US', name: 'US national CERT', createdAt: 1_700_000_000_000, authoritySecret: toB64u(identity.keys.secretKey) }));
    const file = join(home, AUTHORITY_KEYFILE_NAME);
    fs.writeFileSync(file, `${JSON.stringify({ v: 1, kind: 'authority', ...sealPlaintext(kind, deriveKey(phrase, kdf, kind), kdf, plaintext) })}\n`, { mode: 0o600 });

    expect(() => openAuthority(home, 'not the passphrase')).toThrow(expect.objectContaining({ code: 'WRONG_PASSPHRASE' }));
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).kdf.N).toBe(2 ** 15);
    expect(openAuthority(home, phrase).identity.kid).toBe(identity.kid);
    const upgraded = JSON.parse(fs.readFileSync(file, 'utf8')) as { kdf: { N: number; salt: string } };
    expect(upgraded.kdf.N).toBe(2 ** 17);
    expect(upgraded.kdf.salt).not.toBe(kdf.salt);
    expect(mode(file)).toBe('600');
    expect(openAuthority(home, phrase).identity.kid).toBe(identity.kid);
  });
});

describe('history content at rest', () => {
  it('keeps neither the subject nor the text of a sent and a received notice in any history file; the SDK and the CLI still show them', async () => {
    const usClient = pocClient(us, { reconnect: false });
    const cnClient = pocClient(cn, { reconnect: false });
    clients.push(usClient, cnClient);
    const received: string[] = [];
    cnClient.on('notice', (n: { id: string }) => received.push(n.id));
    await usClient.connect();
    await cnClient.connect();
    expect(await whenConnected(usClient, 5000)).toBe(true);
    expect(await whenConnected(cnClient, 5000)).toBe(true);
    const sent = await usClient.send({ toState: 'CN', level: 'FLASH', subject: SUBJECT, text: TEXT });
    await until(() => received.includes(sent.id));
    expect(received).toContain(sent.id);
    expect(cnClient.history.get(sent.id)).toMatchObject({ subject: SUBJECT, text: TEXT });
    expect(usClient.history.get(sent.id)).toMatchObject({ subject: SUBJECT, text: TEXT });

    // Open: the -wal and -shm files exist now, 0600 like the database, under a umask of 022.
    for (const poc of [us, cn]) {
      for (const f of ['history.db', 'history.db-wal', 'history.db-shm']) expect(`${f} ${mode(join(poc.home, f))}`).toBe(`${f} 600`);
    }
    usClient.close();
    cnClient.close();

    for (const poc of [us, cn]) {
      const bytes = historyBytes(poc.home);
      for (const secret of [SUBJECT, TEXT, 'canary']) {
        expect(bytes.includes(Buffer.from(secret, 'utf8'))).toBe(false);
        expect(bytes.includes(Buffer.from(secret, 'utf16le'))).toBe(false);
      }
      const db = new Database(join(poc.home, 'history.db'), { readonly: true });
      try {
        const rows = JSON.stringify(db.prepare('SELECT * FROM messages').all());
        expect(rows).toContain(sent.id);
        expect(rows).not.toContain('canary');
      } finally {
        db.close();
      }
    }

    const inbox = await hotline(['inbox'], { home: cn.home, passphrase: cn.passphrase, relay: relay.url });
    expect(inbox.code).toBe(0);
    expect(inbox.stdout).toContain(SUBJECT);
    const history = await hotlineJson<{ messages: { id: string; subject: string | null; text: string | null }[] }>(['history'], { home: us.home, passphrase: us.passphrase, relay: relay.url });
    expect(history.messages.find((m) => m.id === sent.id)).toMatchObject({ subject: SUBJECT, text: TEXT });
  });

  it('seals the clear rows of a history an older version wrote, in place, on the first open with the key', () => {
    const path = join(root, 'old-history.db');
    const old = new HistoryStore(path);
    old.db
      .prepare(
        `INSERT INTO messages (id, direction, kind, channel, from_kid, from_state, to_state, level, seq, created_at, refs_json, subject, text, recorded_at)
         VALUES ('old-1', 'in', 'notice', 'US-CN', 'kid', 'US', 'CN', 'FLASH', 1, 1, '[]', ?, ?, 1)`,
      )
      .run(SUBJECT, TEXT);
    old.close();
    expect(fs.readFileSync(path).includes(Buffer.from(TEXT))).toBe(true);
    // As an SDK home made by an older version left it: world-readable.
    fs.chmodSync(path, 0o644);

    const key = us.keystore.historyKey();
    const upgraded = new HistoryStore(path, { contentKey: key });
    expect(mode(path)).toBe('600');
    expect(upgraded.get('old-1')).toMatchObject({ subject: SUBJECT, text: TEXT });
    upgraded.close();
    const bytes = Buffer.concat([path, `${path}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
    expect(bytes.includes(Buffer.from('canary'))).toBe(false);

    // Without the key the content is not readable, and another identity's key does not open it.
    const keyless = new HistoryStore(path);
    expect(() => keyless.get('old-1')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    keyless.close();
    const stranger = new HistoryStore(path, { contentKey: cn.keystore.historyKey() });
    expect(() => stranger.get('old-1')).toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
    stranger.close();
  });
});

describe('file modes under a umask of 022', () => {
  it('makes HOTLINE_HOME 0700 and the keyfile, profile, history and an exported witness file 0600 when the SDK writes them', () => {
    expect(process.umask()).toBe(0o022);
    for (const poc of [us, cn]) {
      expect(mode(poc.home)).toBe('700');
      for (const f of [KEYFILE_NAME, 'profile.json', 'history.db']) expect(`${f} ${mode(join(poc.home, f))}`).toBe(`${f} 600`);
    }
    const out = join(root, 'us-witness.json');
    writeWitnessFile(out, witnessFileOf(us.home));
    expect(mode(out)).toBe('600');
    const authorityHome = join(root, 'sdk-authority');
    createAuthority(authorityHome, 'authority: saffron tunnel ledger 64', 'US', 'US national CERT', Date.now());
    expect(mode(authorityHome)).toBe('700');
    expect(mode(join(authorityHome, AUTHORITY_KEYFILE_NAME))).toBe('600');
  });
});
