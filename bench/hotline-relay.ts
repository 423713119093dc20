// The Hotline relay under test, in its own process (`node bin/hotline.js relay --json`), and the admin calls that set it up
// (channels are opened by installing their charter: bench/trust-setup.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signStatement } from '../shared/index.ts';
import { makeTempDir, removeTempDir, spawnChild, waitForLine, type ManagedChild } from './children.ts';
import type { BenchMember } from './population.ts';

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export interface HotlineRelay {
  readonly url: string;
  readonly httpUrl: string;
  readonly relayKid: string;
  readonly adminToken: string;
  /** Bearer token for GET /metrics (DIR/metrics.token). */
  readonly metricsToken: string;
  readonly dataDir: string;
  readonly child: ManagedChild;
  /** Graceful stop (SIGTERM: commits finish, a CPU profile is written), then the data dir is removed unless kept. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

interface ReadyLine {
  url: string;
  relay: string;
  dataDir: string;
}

function parseReady(line: string): ReadyLine | null {
  if (!line.startsWith('{')) return null;
  try {
    const value = JSON.parse(line) as Partial<ReadyLine>;
    return typeof value.url === 'string' && typeof value.relay === 'string' && typeof value.dataDir === 'string' ? (value as ReadyLine) : null;
  } catch {
    return null;
  }
}

export interface StartRelayOptions {
  /**
   * Flags for the relay's node process, e.g. `--cpu-prof --cpu-prof-dir=DIR`. Given on the command line, not in
   * NODE_OPTIONS: Node 20 refuses --cpu-prof there ("not allowed in NODE_OPTIONS"); the process profiled is the same.
   */
  readonly nodeArgs?: readonly string[];
  /**
   * Start on this data dir (made with makeTempDir, so it is removed on exit) instead of a fresh one: a relay restarted
   * on the store an earlier one left, e.g. after the bench preloaded it (bench/deadline-scale.ts).
   */
  readonly dataDir?: string;
}

/** Starts a relay on 127.0.0.1 port 0 with a fresh data dir (or `options.dataDir`); resolves once it printed its ready line. */
export async function startHotlineRelay(options: StartRelayOptions = {}): Promise<HotlineRelay> {
  const dataDir = options.dataDir ?? makeTempDir('relay');
  const child = spawnChild({
    name: 'hotline relay',
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), ...(process.env.HOTLINE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), join(projectRoot, 'bin/hotline.js'), 'relay', '--host', '127.0.0.1', '--port', '0', '--data', dataDir, '--json', ...(process.env.HOTLINE_BENCH_RELAY_ARGS ?? '').split(' ').filter(Boolean)],
    cwd: projectRoot,
    env: { ...process.env, HOTLINE_LOG_LEVEL: 'warn', NODE_OPTIONS: '' },
  });
  const ready = await waitForLine(child, parseReady, 30_000);
  return {
    url: ready.url,
    httpUrl: ready.url.replace(/^ws/, 'http'),
    relayKid: ready.relay,
    adminToken: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
    metricsToken: readFileSync(join(dataDir, 'metrics.token'), 'utf8').trim(),
    dataDir,
    child,
    stop: async ({ keepData = false } = {}) => {
      await child.stop(15_000);
      if (!keepData) removeTempDir(dataDir);
    },
  };
}

/** POSTs JSON (with the admin token when given); throws with the status and body on anything but 2xx. */
export async function postJson<T>(url: string, body: unknown, token: string | null): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Admin invite, then /v1/join signed by the member's key: what `hotline join` does. */
export async function enrol(relay: HotlineRelay, m: BenchMember): Promise<void> {
  const { invite } = await postJson<{ invite: string }>(`${relay.httpUrl}/v1/admin/invites`, { state: m.state, role: 'poc' }, relay.adminToken);
  const sig = signStatement(m.identity, 'hotline-join-v1', { invite, kid: m.identity.kid, name: m.name });
  await postJson(`${relay.httpUrl}/v1/join`, { invite, kid: m.identity.kid, name: m.name, prekey: m.prekey, sig }, null);
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function inBatches<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  });
  await Promise.all(lanes);
}

export async function enrolAll(relay: HotlineRelay, members: readonly BenchMember[]): Promise<void> {
  await inBatches(members, 8, (m) => enrol(relay, m));
}
