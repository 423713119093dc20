// relay.key at rest: sealed under HOTLINE_RELAY_KEY_PASSPHRASE(_FILE), a plain key sealed in place with its kid kept, refusals that leave the file as it was.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIdentity, deriveKey, DEFAULT_KDF, HotlineError, initCrypto, sealPlaintext, signStatement, toB64u, utf8, verifyStatement } from '../../shared/index.ts';
import { loadOrCreateRelayFiles, relayKeyPassphrase } from '../../server/relay-files.ts';
import { CliProcess, hotline } from '../helpers/cli.ts';
import { tempDir } from '../helpers/relay.ts';

const PASSPHRASE = 'relay desk: juniper socket falcon 35';
const live: CliProcess[] = [];
let dataDir: string;

/** `hotline relay` on port 0 in `dataDir` with `env` added; resolves with its ready line's relay kid and the process. */
async function startRelayWith(env: Record<string, string>): Promise<{ proc: CliProcess; kid: string }> {
  const proc = new CliProcess(['relay', '--port', '0', '--data', dataDir, '--json'], { extra: env });
  live.push(proc);
  const ready = await proc.waitFor((l) => typeof l.url === 'string', 20_000);
  return { proc, kid: ready.relay as string };
}

/** `hotline relay` that must refuse to start: its exit code and stderr. */
function refusedRelay(env: Record<string, string>) {
  return hotline(['relay', '--port', '0', '--data', dataDir, '--json'], { extra: env });
}

function keyText(): string {
  return readFileSync(join(dataDir, 'relay.key'), 'utf8');
}

function keyJson(): Record<string, unknown> {
  return JSON.parse(keyText()) as Record<string, unknown>;
}

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

function thrown(run: () => unknown): HotlineError {
  try {
    run();
  } catch (error) {
    if (error instanceof HotlineError) return error;
    throw error;
  }
  throw new Error('expected a HotlineError');
}

beforeAll(async () => {
  await initCrypto();
  // The relay processes inherit this environment: an operator's own setting must not leak into the tests.
  delete process.env.HOTLINE_RELAY_KEY_PASSPHRASE;
  delete process.env.HOTLINE_RELAY_KEY_PASSPHRASE_FILE;
});

beforeEach(() => {
  dataDir = tempDir('relay-key');
});

afterEach(async () => {
  await Promise.all(live.splice(0).map((p) => p.kill('SIGKILL')));
  rmSync(dataDir, { recursive: true, force: true });
});

afterAll(async () => {
  await Promise.all(live.map((p) => p.kill('SIGKILL')));
});

describe('relay-files: relay.key sealed at rest', () => {
  it('creates a sealed v2 key (0600) on first start with HOTLINE_RELAY_KEY_PASSPHRASE', async () => {
    const { proc, kid } = await startRelayWith({ HOTLINE_RELAY_KEY_PASSPHRASE: PASSPHRASE });
    expect(await proc.kill('SIGTERM')).toBe(0);
    const stored = keyJson();
    expect(stored).toMatchObject({ v: 2, kind: 'hotline-relay-key', kid, kdf: { alg: 'scrypt' } });
    expect(stored).not.toHaveProperty('secretKey');
    expect(modeOf(join(dataDir, 'relay.key'))).toBe('600');
    expect(proc.stderr).not.toContain('not sealed');
    expect(loadOrCreateRelayFiles(dataDir, PASSPHRASE).identity.kid).toBe(kid);
  });

  it('keeps a new key in the clear without a passphrase, and warns on stderr how to seal it', async () => {
    const { proc } = await startRelayWith({});
    await proc.kill('SIGTERM');
    expect(keyJson()).toMatchObject({ v: 1 });
    expect(modeOf(join(dataDir, 'relay.key'))).toBe('600');
    const warning = proc.stderr.split('\n').find((line) => line.includes('not sealed'));
    expect(warning).toContain('HOTLINE_RELAY_KEY_PASSPHRASE');
    expect(warning).toContain('HOTLINE_RELAY_KEY_PASSPHRASE_FILE');
  });

  it('seals a plain v1 key in place on the first start with a passphrase, keeping the same key and kid', async () => {
    const before = await startRelayWith({});
    await before.proc.kill('SIGTERM');
    const plain = loadOrCreateRelayFiles(dataDir, null).identity;
    expect(plain.kid).toBe(before.kid);
    const statement = signStatement(plain, 'hotline-test-v1', { n: 1 });

    const after = await startRelayWith({ HOTLINE_RELAY_KEY_PASSPHRASE: PASSPHRASE });
    expect(await after.proc.kill('SIGTERM')).toBe(0);
    expect(after.kid).toBe(before.kid);
    expect(keyJson()).toMatchObject({ v: 2, kind: 'hotline-relay-key', kid: before.kid });
    expect(modeOf(join(dataDir, 'relay.key'))).toBe('600');
    expect(existsSync(join(dataDir, 'relay.key.tmp'))).toBe(false);

    const sealed = loadOrCreateRelayFiles(dataDir, PASSPHRASE).identity;
    expect(toB64u(sealed.keys.secretKey)).toBe(toB64u(plain.keys.secretKey));
    // What the relay signed before sealing (receipts, checkpoints) still verifies under its kid.
    expect(verifyStatement(sealed.kid, statement, 'hotline-test-v1', { n: 1 })).toBe(true);
  });

  it('refuses to start a sealed key without a passphrase, naming both variables, and leaves the file as it was', async () => {
    loadOrCreateRelayFiles(dataDir, PASSPHRASE);
    const bytes = keyText();
    const refused = await refusedRelay({});
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('is sealed and no passphrase was given');
    expect(refused.stderr).toContain('HOTLINE_RELAY_KEY_PASSPHRASE');
    expect(refused.stderr).toContain('HOTLINE_RELAY_KEY_PASSPHRASE_FILE');
    expect(keyText()).toBe(bytes);
    expect(thrown(() => loadOrCreateRelayFiles(dataDir, null)).code).toBe('WRONG_PASSPHRASE');
  });

  it('refuses a wrong passphrase and leaves the file byte for byte as it was', async () => {
    loadOrCreateRelayFiles(dataDir, PASSPHRASE);
    const bytes = keyText();
    const refused = await refusedRelay({ HOTLINE_RELAY_KEY_PASSPHRASE: 'not the passphrase' });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('wrong passphrase');
    expect(keyText()).toBe(bytes);
    expect(existsSync(join(dataDir, 'relay.key.tmp'))).toBe(false);
    expect(thrown(() => loadOrCreateRelayFiles(dataDir, 'not the passphrase')).code).toBe('WRONG_PASSPHRASE');
  });

  it('reads the passphrase from HOTLINE_RELAY_KEY_PASSPHRASE_FILE, without its trailing newline', async () => {
    const secretFile = `${dataDir}-passphrase`;
    writeFileSync(secretFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    try {
      const { proc, kid } = await startRelayWith({ HOTLINE_RELAY_KEY_PASSPHRASE_FILE: secretFile });
      expect(await proc.kill('SIGTERM')).toBe(0);
      expect(keyJson()).toMatchObject({ v: 2, kid });
      // The file and the variable give the same passphrase: the newline is not part of it.
      const again = await startRelayWith({ HOTLINE_RELAY_KEY_PASSPHRASE: PASSPHRASE });
      expect(again.kid).toBe(kid);
    } finally {
      rmSync(secretFile, { force: true });
    }
  });

  it('writes the secret key into the sealed file in no encoding', () => {
    const plain = loadOrCreateRelayFiles(dataDir, null).identity;
    loadOrCreateRelayFiles(dataDir, PASSPHRASE);
    const text = keyText();
    const raw = readFileSync(join(dataDir, 'relay.key'));
    const secretKey = Buffer.from(plain.keys.secretKey);
    const seed = secretKey.subarray(0, 32);
    for (const bytes of [secretKey, seed]) {
      for (const encoded of [toB64u(bytes), bytes.toString('base64'), bytes.toString('hex'), bytes.toString('base64url')]) {
        expect(text).not.toContain(encoded);
      }
      expect(raw.indexOf(bytes)).toBe(-1);
    }
    expect(text).not.toContain('secretKey');
  });

  it('refuses a sealed key whose stored kid is not the key it holds', () => {
    loadOrCreateRelayFiles(dataDir, PASSPHRASE);
    const stored = keyJson();
    writeFileSync(join(dataDir, 'relay.key'), `${JSON.stringify({ ...stored, kid: createIdentity().kid })}\n`, { mode: 0o600 });
    const error = thrown(() => loadOrCreateRelayFiles(dataDir, PASSPHRASE));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toContain('is damaged');
  });

  it('re-seals a key sealed at the old, lower key-derivation cost (N=2^15) at today\'s, same key, even under a passphrase the policy would now refuse', () => {
    const identity = createIdentity();
    const weak = 'relay-secret';
    const oldKdf = { alg: 'scrypt' as const, N: 2 ** 15, r: 8 as const, p: 1, salt: toB64u(new Uint8Array(16).fill(7)) };
    const kind = { aad: utf8('hotline-relay-key-v2'), label: 'the relay key' };
    const key = deriveKey(weak, oldKdf, kind);
    const fields = sealPlaintext(kind, key, oldKdf, identity.keys.secretKey.slice());
    writeFileSync(join(dataDir, 'relay.key'), `${JSON.stringify({ v: 2, kind: 'hotline-relay-key', kid: identity.kid, ...fields })}\n`, { mode: 0o600 });
    const files = loadOrCreateRelayFiles(dataDir, weak);
    expect(files.identity.kid).toBe(identity.kid);
    const stored = keyJson() as { kid: string; kdf: { N: number; salt: string } };
    expect(stored.kid).toBe(identity.kid);
    expect(stored.kdf.N).toBe(DEFAULT_KDF.N);
    expect(stored.kdf.salt).not.toBe(oldKdf.salt);
    expect(modeOf(join(dataDir, 'relay.key'))).toBe('600');
    // And it opens again at the new cost.
    expect(loadOrCreateRelayFiles(dataDir, weak).identity.kid).toBe(identity.kid);
  });

  it('documents both variables in `hotline relay --help`', async () => {
    const help = await hotline(['relay', '--help']);
    expect(help.stdout).toContain('HOTLINE_RELAY_KEY_PASSPHRASE ');
    expect(help.stdout).toContain('HOTLINE_RELAY_KEY_PASSPHRASE_FILE');
  });
});

describe('relay-files: relayKeyPassphrase', () => {
  it('is null when neither variable is set', () => {
    expect(relayKeyPassphrase({})).toBeNull();
  });

  it('refuses both variables at once', () => {
    const error = thrown(() => relayKeyPassphrase({ HOTLINE_RELAY_KEY_PASSPHRASE: 'a', HOTLINE_RELAY_KEY_PASSPHRASE_FILE: '/nonexistent' }));
    expect(error.code).toBe('BAD_INPUT');
  });

  it('refuses an empty passphrase rather than leaving the key in the clear', () => {
    expect(thrown(() => relayKeyPassphrase({ HOTLINE_RELAY_KEY_PASSPHRASE: '' })).code).toBe('BAD_INPUT');
    const empty = join(dataDir, 'empty');
    writeFileSync(empty, '\n');
    expect(thrown(() => relayKeyPassphrase({ HOTLINE_RELAY_KEY_PASSPHRASE_FILE: empty })).code).toBe('BAD_INPUT');
  });

  it('names the passphrase file it cannot read', () => {
    const missing = join(dataDir, 'missing');
    const error = thrown(() => relayKeyPassphrase({ HOTLINE_RELAY_KEY_PASSPHRASE_FILE: missing }));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toContain(missing);
  });
});
