import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hotline } from '../helpers/cli.ts';
import { freePort, killAllRelays, spawnRelay } from '../helpers/relay-process.ts';
import { startTestRelay, tempDir } from '../helpers/relay.ts';

// One relay per data directory: real relay processes on one dir, a kill -9, a restart.
let root: string;
beforeAll(() => {
  root = tempDir('data-lock');
});
afterAll(() => {
  killAllRelays();
  rmSync(root, { recursive: true, force: true });
});

describe('data-directory lock', () => {
  it('refuses a second relay on the same directory, naming the pid that holds it; exit 1', async () => {
    const dataDir = join(root, 'shared');
    const first = await spawnRelay({ dataDir, port: await freePort() });
    try {
      const second = await hotline(['relay', '--port', '0', '--data', dataDir]);
      expect(second.code).toBe(1);
      const lines = second.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^hotline relay: ${dataDir} is in use by another relay \\(pid ${first.pid}, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\); stop it or use --data`));
      expect(second.stdout).toBe('');
      // The first one is untouched and still serving.
      expect((await fetch(`${first.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // A graceful stop releases the lock.
    expect(existsSync(join(dataDir, 'relay.lock'))).toBe(false);
  }, 60_000);

  it('takes over the lock a kill -9 left behind, and says so', async () => {
    const dataDir = join(root, 'killed');
    const port = await freePort();
    const first = await spawnRelay({ dataDir, port });
    await first.kill9();
    const stale = JSON.parse(readFileSync(join(dataDir, 'relay.lock'), 'utf8')) as { pid: number };
    expect(stale.pid).toBe(first.pid);
    const again = await spawnRelay({ dataDir, port });
    try {
      expect(again.relayKid).toBe(first.relayKid);
      expect(again.log()).toMatch(new RegExp(`locked by a relay that is no longer running \\(pid ${first.pid}, started [^)]+\\); lock taken over`));
      const held = JSON.parse(readFileSync(join(dataDir, 'relay.lock'), 'utf8')) as { pid: number };
      expect(held.pid).toBe(again.pid);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  }, 60_000);

  it('refuses a second relay on the same directory in one process too, until the first is closed', async () => {
    const dataDir = join(root, 'in-process');
    const first = await startTestRelay({ dataDir });
    await expect(startTestRelay({ dataDir })).rejects.toMatchObject({ code: 'DATA_DIR_LOCKED' });
    await first.close();
    const second = await startTestRelay({ dataDir });
    await second.dispose();
  });
});
