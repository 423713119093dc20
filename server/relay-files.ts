// The relay's identity key and admin token in its data directory: created on first start, 0600, never logged.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { createIdentity, fromB64u, keyId, randomBytes, toB64u, type Identity } from '../shared/index.ts';

export interface RelayFiles {
  readonly identity: Identity;
  readonly adminToken: string;
  /** True when this start created them (the token is shown once). */
  readonly created: boolean;
}

function writeSecret(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

export function loadOrCreateRelayFiles(dataDir: string): RelayFiles {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const keyPath = join(dataDir, 'relay.key');
  const tokenPath = join(dataDir, 'admin.token');
  let created = false;
  if (!existsSync(keyPath)) {
    const identity = createIdentity();
    writeSecret(keyPath, JSON.stringify({ v: 1, secretKey: toB64u(identity.keys.secretKey) }) + '\n');
    created = true;
  }
  if (!existsSync(tokenPath)) {
    writeSecret(tokenPath, `${toB64u(randomBytes(32))}\n`);
    created = true;
  }
  const { secretKey } = JSON.parse(readFileSync(keyPath, 'utf8')) as { secretKey: string };
  const sk = fromB64u(secretKey, 64);
  const publicKey = sk.slice(32);
  return {
    identity: { kid: keyId(publicKey), keys: { publicKey, secretKey: sk } },
    adminToken: readFileSync(tokenPath, 'utf8').trim(),
    created,
  };
}
