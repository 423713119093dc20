import { closeSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeRelayKeyPassphrase } from '../../server/relay-files.ts';
import { HOTLINE_BIN, startRelayProcess } from '../helpers/cli.ts';
import { startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';

// The relay's tokens: /metrics has its own, no token reaches a file or a log, the key passphrase leaves the environment.
describe('/metrics token', () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await startTestRelay();
  });
  afterAll(async () => {
    await relay.dispose();
  });

  const scrape = (token?: string) => fetch(`${relay.httpUrl}/metrics`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  it('refuses an anonymous scrape with 401 and the usual JSON error', async () => {
    const res = await scrape();
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect((await scrape('not-the-token')).status).toBe(401);
  });

  it('refuses the admin token: it is not the metrics token', async () => {
    const res = await scrape(relay.adminToken);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED', message: expect.stringMatching(/metrics token/) } });
  });

  it('answers the metrics token from DIR/metrics.token (0600, not the admin token)', async () => {
    const file = join(relay.dataDir, 'metrics.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toBe(relay.metricsToken);
    expect(token).not.toBe(relay.adminToken);
    const res = await scrape(token);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('hotline_commit_seconds');
  });

  it('does not let the metrics token into the admin API', async () => {
    const res = await fetch(`${relay.httpUrl}/v1/admin/roster`, { headers: { authorization: `Bearer ${relay.metricsToken}` } });
    expect(res.status).toBe(401);
  });
});

describe('relay tokens on stdout and in logs', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('relay-secrets');
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('prints where the tokens are, not the tokens, when stdout is a file (relay > relay.log)', async () => {
    const dataDir = join(root, 'to-file');
    const logPath = join(root, 'relay.log');
    const fd = openSync(logPath, 'w');
    // An info-level log, and a wrong and a right token sent to it, so that the log has every chance to carry one.
    const proc = spawn(process.execPath, [HOTLINE_BIN, 'relay', '--port', '0', '--data', dataDir], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, HOTLINE_LOG_LEVEL: 'debug' },
    });
    closeSync(fd);
    try {
      let url: string | null = null;
      for (let i = 0; i < 400 && url === null; i++) {
        url = /listening on (ws:\/\/\S+)/.exec(readFileSync(logPath, 'utf8'))?.[1] ?? null;
        if (url === null) await new Promise((r) => setTimeout(r, 50));
      }
      expect(url).not.toBeNull();
      const httpUrl = (url as string).replace(/^ws:/, 'http:');
      const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
      const metricsToken = readFileSync(join(dataDir, 'metrics.token'), 'utf8').trim();
      await fetch(`${httpUrl}/v1/admin/roster`, { headers: { authorization: `Bearer ${adminToken}` } });
      await fetch(`${httpUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      await fetch(`${httpUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
      await fetch(`${httpUrl}/v1/admin/invites`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}x`, 'content-type': 'application/json' }, body: '{}' });
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    const log = readFileSync(logPath, 'utf8');
    const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const metricsToken = readFileSync(join(dataDir, 'metrics.token'), 'utf8').trim();
    expect(log).toContain(`admin token: in ${join(dataDir, 'admin.token')} (mode 0600)`);
    expect(log).toContain(`metrics token: in ${join(dataDir, 'metrics.token')} (mode 0600)`);
    expect(log).not.toContain(adminToken);
    expect(log).not.toContain(metricsToken);
  }, 60_000);

  it('shows the tokens once on a terminal (the first start), and later only where they are', async () => {
    const dataDir = join(root, 'tty');
    // `script` gives the relay a pseudo-terminal for stdout, as an operator at a shell has.
    const onTerminal = async (): Promise<string> => {
      const proc = spawn('script', ['-qfec', `${process.execPath} ${HOTLINE_BIN} relay --port 0 --data ${dataDir}`, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, HOTLINE_LOG_LEVEL: 'warn' },
      });
      let out = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise((r) => proc.once('exit', r));
      for (let i = 0; i < 400 && !/listening on/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      const lock = JSON.parse(readFileSync(join(dataDir, 'relay.lock'), 'utf8')) as { pid: number };
      process.kill(lock.pid, 'SIGTERM');
      await exited;
      return out;
    };
    const first = await onTerminal();
    const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const metricsToken = readFileSync(join(dataDir, 'metrics.token'), 'utf8').trim();
    expect(first).toContain(`admin token (shown once; also in ${join(dataDir, 'admin.token')}, mode 0600): ${adminToken}`);
    expect(first).toContain(metricsToken);
    const second = await onTerminal();
    expect(second).toMatch(/listening on ws:/);
    expect(second).not.toContain(adminToken);
    expect(second).not.toContain(metricsToken);
  }, 60_000);

  it('keeps the tokens out of the --json ready line', async () => {
    const dataDir = join(root, 'json');
    const { proc, adminToken } = await startRelayProcess(dataDir);
    try {
      const ready = proc.lines.find((l) => typeof l.url === 'string');
      const metricsToken = readFileSync(join(dataDir, 'metrics.token'), 'utf8').trim();
      expect(ready).toMatchObject({ dataDir, firstStart: true });
      expect(JSON.stringify(proc.lines)).not.toContain(adminToken);
      expect(JSON.stringify(proc.lines)).not.toContain(metricsToken);
    } finally {
      await proc.kill();
    }
    expect(proc.stderr).not.toContain(adminToken);
  }, 60_000);
});

describe('takeRelayKeyPassphrase', () => {
  it('reads HOTLINE_RELAY_KEY_PASSPHRASE once and removes both variables from the environment', () => {
    const env: NodeJS.ProcessEnv = { HOTLINE_RELAY_KEY_PASSPHRASE: 'correct horse battery staple', OTHER: 'kept' };
    expect(takeRelayKeyPassphrase(env)).toBe('correct horse battery staple');
    expect(env).toEqual({ OTHER: 'kept' });
  });

  it('removes them even when they are refused (both set)', () => {
    const env: NodeJS.ProcessEnv = { HOTLINE_RELAY_KEY_PASSPHRASE: 'a', HOTLINE_RELAY_KEY_PASSPHRASE_FILE: '/nope' };
    expect(() => takeRelayKeyPassphrase(env)).toThrow(/set only one/);
    expect(env).toEqual({});
  });
});
