// Disposable in-process relays for tests: port 0, a fresh temp data dir, silent logs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startRelay, type RelayOptions, type RunningRelay } from '../../server/relay.ts';

export interface TestRelay extends RunningRelay {
  readonly dataDir: string;
  /** Stops the relay and deletes its data dir. */
  dispose(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `hotline-${prefix}-`));
}

export async function startTestRelay(options: RelayOptions & { dataDir?: string } = {}): Promise<TestRelay> {
  const dataDir = options.dataDir ?? tempDir('relay');
  const relay = await startRelay({
    ...options,
    logger: options.logger ?? pino({ level: 'silent' }),
    config: { port: 0, ...options.config, dataDir },
  });
  return {
    ...relay,
    dataDir,
    dispose: async () => {
      await relay.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Calls an admin endpoint with the relay's token. */
export async function adminCall<T>(relay: Pick<RunningRelay, 'httpUrl' | 'adminToken'>, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${relay.httpUrl}/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${relay.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}
