import { readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RelayConnection } from '../../client/relay-connection.ts';
import { readRelayTls } from '../../server/relay.ts';
import { createIdentity, initCrypto } from '../../shared/index.ts';
import { hotline, hotlineJson, startRelayProcess, type CliEnv, type CliProcess } from '../helpers/cli.ts';
import { startTestRelay, tempDir } from '../helpers/relay.ts';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls-certs.ts';
import { chartered, readyAuthorityFingerprint } from '../helpers/trust.ts';

// Native TLS: a real relay process with a certificate from a private CA made here, clients that verify it.
let root: string;
let certs: TestCertificates;
let relay: { proc: CliProcess; url: string; adminToken: string };
let relayDir: string;
let httpsUrl: string;

/** GET over https trusting only `ca` (null: the system's roots), resolved with the status and body. */
function httpsGet(url: string, ca: string | null, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ...(ca ? { ca: readFileSync(ca) } : {}), headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The trust helpers post with the global fetch, which cannot be given a CA: for this relay's https URL, the same
 * request goes through node:https trusting the test CA (certificates still verified).
 */
async function withTestCaFetch<T>(fn: () => Promise<T>): Promise<T> {
  const original = globalThis.fetch;
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (!url.startsWith(httpsUrl)) return original(input, init);
    const ca = readFileSync(certs.caCert);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(url, { method: init?.method ?? 'GET', headers: init?.headers as Record<string, string>, ca }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(init?.body as string | undefined);
    });
    return new Response(answer.body, { status: answer.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  try {
    return await fn();
  } finally {
    globalThis.fetch = original;
  }
}

async function enrol(label: string, state: string, caArgs: readonly string[], extra: Record<string, string>): Promise<CliEnv> {
  const env: CliEnv = { home: join(root, label), relay: relay.url, passphrase: `pass-${label}: amber quarry lantern`, extra };
  const admin: CliEnv = { relay: relay.url, data: relayDir, extra: { HOTLINE_CA: certs.caCert } };
  const { invite } = await hotlineJson<{ invite: string }>(['admin', 'invite', '--state', state, '--role', 'poc'], admin);
  await hotlineJson(['init', '--name', `${state} CERT duty officer`], env);
  const joined = await hotlineJson<{ state: string; url: string }>([...caArgs, 'join', invite, '--authority', await readyAuthorityFingerprint(state)], env);
  expect(joined).toMatchObject({ state, url: relay.url });
  return env;
}

beforeAll(async () => {
  root = tempDir('tls');
  certs = makeTestCertificates(root);
  relayDir = join(root, 'relay');
  relay = await startRelayProcess(relayDir, ['--tls-cert', certs.relayCert, '--tls-key', certs.relayKey]);
  httpsUrl = relay.url.replace(/^wss:/, 'https:');
}, 120_000);

afterAll(async () => {
  await relay?.proc.kill();
  rmSync(root, { recursive: true, force: true });
});

describe('relay with native TLS', () => {
  it('says wss:// in its ready line and answers /healthz over https to a client trusting the CA', async () => {
    expect(relay.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const health = await httpsGet(`${httpsUrl}/healthz`, certs.caCert);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true });
  });

  it('is refused by a client that does not trust its CA (no way around verification)', async () => {
    await expect(httpsGet(`${httpsUrl}/healthz`, null)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('does not speak plain ws:// or http:// on its port', async () => {
    const plainWs = relay.url.replace(/^wss:/, 'ws:');
    const outcome = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${plainWs}/v1/ws`, { handshakeTimeout: 5000 });
      ws.on('open', () => {
        ws.close();
        resolve('open');
      });
      ws.on('error', (err) => resolve(`error: ${err.message}`));
    });
    expect(outcome).toMatch(/^error/);
    const plainHttp = await new Promise<string>((resolve) => {
      const req = httpRequest(`${plainWs.replace(/^ws:/, 'http:')}/healthz`, (res) => resolve(`HTTP ${res.statusCode}`));
      req.on('error', (err) => resolve(`error: ${err.message}`));
      req.end();
    });
    expect(plainHttp).not.toBe('HTTP 200');
  });

  it('CLI: joins and sends over wss:// with --ca or HOTLINE_CA; the notice is delivered', async () => {
    const us = await enrol('us', 'US', ['--ca', certs.caCert], {});
    const cn = await enrol('cn', 'CN', [], { HOTLINE_CA: certs.caCert });
    const admin: CliEnv = { relay: relay.url, data: relayDir, extra: { HOTLINE_CA: certs.caCert } };
    await hotlineJson(['admin', 'channel', 'open', 'US', 'CN'], admin);
    const entrants = await Promise.all([us, cn].map((e) => hotlineJson<{ kid: string; state: string; name: string; role: string }>(['whoami'], e)));
    await withTestCaFetch(() => chartered({ httpUrl: httpsUrl, adminToken: relay.adminToken }, 'US-CN', entrants));
    const sent = await hotlineJson<{ id: string }>(['--ca', certs.caCert, 'send', '--to', 'CN', '--level', 'ROUTINE', 'Scanning from 203.0.113.0/24'], us);
    const inbox = await hotlineJson<{ notices: { id: string; body?: string }[] }>(['inbox'], cn);
    expect(inbox.notices.map((n) => n.id)).toContain(sent.id);

    // The same commands without the CA: refused, saying what the certificate problem is and naming --ca.
    const noCa: CliEnv = { ...cn, extra: {} };
    const send = await hotline(['send', '--to', 'US', '--level', 'ROUTINE', 'no CA', '--json'], noCa);
    expect(send.code).toBe(1);
    const error = (JSON.parse(send.stderr.trim().split('\n').pop() as string) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('TLS_UNTRUSTED');
    expect(error.message).toMatch(/--ca/);
  }, 300_000);

  it('CLI: a join without the CA is refused with TLS_UNTRUSTED naming --ca, and nothing is enrolled', async () => {
    const admin: CliEnv = { relay: relay.url, data: relayDir, extra: { HOTLINE_CA: certs.caCert } };
    const { invite } = await hotlineJson<{ invite: string }>(['admin', 'invite', '--state', 'US', '--role', 'alternate'], admin);
    const env: CliEnv = { home: join(root, 'no-ca'), relay: relay.url, passphrase: 'pass-no-ca: amber quarry lantern' };
    await hotlineJson(['init', '--name', 'US alternate'], env);
    const join1 = await hotline(['join', invite, '--authority', await readyAuthorityFingerprint('US')], env);
    expect(join1.code).toBe(1);
    expect(join1.stderr).toMatch(/does not trust.*--ca.*\[TLS_UNTRUSTED\]/);
    // The invite was not spent: the relay never saw the request.
    const joined = await hotlineJson<{ state: string }>(['--ca', certs.caCert, 'join', invite, '--authority', await readyAuthorityFingerprint('US')], env);
    expect(joined.state).toBe('US');
  }, 180_000);

  it('CLI: an unreadable --ca file is a one-line BAD_INPUT', async () => {
    const r = await hotline(['--ca', join(root, 'missing.pem'), 'admin', 'roster'], { relay: relay.url, data: relayDir });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot read the CA file .*missing\.pem.*ENOENT.*\[BAD_INPUT\]/);
  });
});

describe('relay TLS flags', () => {
  async function refused(args: readonly string[]): Promise<string> {
    const r = await hotline(['relay', '--port', '0', '--data', join(root, 'refused'), ...args]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0] as string;
  }

  it('refuses a missing certificate file', async () => {
    expect(await refused(['--tls-cert', join(root, 'nope.crt'), '--tls-key', certs.relayKey])).toMatch(/cannot read --tls-cert .*nope\.crt: no such file/);
  });

  it('refuses a key that is not the certificate\'s', async () => {
    expect(await refused(['--tls-cert', certs.relayCert, '--tls-key', certs.otherKey])).toMatch(/--tls-key .*other\.key is not the key of the certificate/);
  });

  it('refuses a certificate file that is not one, and a key where the certificate should be', async () => {
    expect(await refused(['--tls-cert', certs.relayKey, '--tls-key', certs.relayKey])).toMatch(/is not a PEM certificate/);
    expect(await refused(['--tls-cert', certs.relayCert, '--tls-key', certs.relayCert])).toMatch(/is not a PEM private key/);
  });

  it('refuses a certificate that is out of date or not yet valid', () => {
    const in40Days = new Date(Date.now() + 40 * 86_400_000);
    expect(() => readRelayTls(certs.relayCert, certs.relayKey, in40Days)).toThrow(/the certificate in .*relay\.crt expired on .*; renew it/);
    expect(() => readRelayTls(certs.relayCert, certs.relayKey, new Date(Date.now() - 86_400_000))).toThrow(/is not valid before/);
  });

  it('refuses one flag without the other', async () => {
    expect(await refused(['--tls-cert', certs.relayCert])).toMatch(/--tls-cert needs --tls-key/);
    expect(await refused(['--tls-key', certs.relayKey])).toMatch(/--tls-key needs --tls-cert/);
  });
});

describe('SDK over wss://', () => {
  async function connect(url: string, ca: Buffer | null): Promise<string> {
    await initCrypto();
    const conn = new RelayConnection({ url, identity: createIdentity(), relayKid: null, reconnect: false, ...(ca ? { tls: { ca } } : {}) });
    try {
      await conn.open();
      return 'welcome';
    } catch (error) {
      return (error as { code: string }).code;
    } finally {
      conn.close();
    }
  }

  it('verifies the relay certificate: trusted with tls.ca (the relay then asks who we are), TLS_UNTRUSTED without', async () => {
    const relay = await startTestRelay({ config: { tls: readRelayTls(certs.relayCert, certs.relayKey) } });
    try {
      expect(relay.url).toMatch(/^wss:/);
      // A key the relay does not know: refused at auth, which is past the TLS handshake.
      expect(await connect(relay.url, readFileSync(certs.caCert))).toBe('UNKNOWN_KEY');
      expect(await connect(relay.url, null)).toBe('TLS_UNTRUSTED');
      expect(await connect(relay.url.replace('127.0.0.1', 'localhost'), readFileSync(certs.caCert))).toBe('UNKNOWN_KEY');
    } finally {
      await relay.dispose();
    }
  });
});
