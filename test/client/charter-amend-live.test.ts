// A PoC that stays connected (hotline listen) while both authorities amend the charter to name a drill director, as
// the README's drill section does: the director's first inject must be received, receipted and shown, with no warning.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { HotlineClient } from '../../client/hotline-client.ts';
import { initCrypto } from '../../shared/index.ts';
import { enrolPoc, pocClient, whenConnected, type EnrolledPoc } from '../helpers/poc.ts';
import { startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { chartered, installCharter } from '../helpers/trust.ts';

const root = tempDir('charter-amend-live');
const relays: TestRelay[] = [];
const clients: HotlineClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of relays) await r.close();
  rmSync(root, { recursive: true, force: true });
});

async function connected(poc: EnrolledPoc): Promise<HotlineClient> {
  const client = pocClient(poc);
  clients.push(client);
  await client.connect();
  if (!(await whenConnected(client, 5000))) throw new Error(`${poc.label} did not connect`);
  return client;
}

/** Every warning and alarm the clients raise, as one line each. */
function complaintsOf(...clients: HotlineClient[]): string[] {
  const lines: string[] = [];
  for (const c of clients) {
    c.on('warning', (w) => lines.push(`${w.code}: ${w.message}`));
    c.on('alarm', (a) => lines.push(`ALARM ${a.code}: ${a.message}`));
  }
  return lines;
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a charter amended while a PoC listens', () => {
  it("receipts the new director's first drill inject", async () => {
    await initCrypto();
    const relay = await startTestRelay();
    relays.push(relay);
    const us = await enrolPoc(relay, { root, label: 'us', state: 'US' });
    const cn = await enrolPoc(relay, { root, label: 'cn', state: 'CN' });
    await chartered(relay, 'US-CN', [us, cn]);
    const listener = await connected(cn);
    // The director joins after the PoC started listening (the README's order).
    const director = await enrolPoc(relay, { root, label: 'director', state: 'EXCON', role: 'director' });
    const warnings = complaintsOf(listener);
    // Version 2 names the director; the listener is not told, and holds version 1.
    await installCharter(relay, 'US-CN', { directors: [director.profile.kid] });
    // Another process on the same HOTLINE_HOME (`hotline inbox` in a second terminal) fetches version 2 first.
    const other = await connected(cn);
    await other.refreshTrust();
    expect(other.trustStore.latestCharter('US-CN')?.charter.version).toBe(2);
    other.close();
    const dir = await connected(director);
    await dir.startDrill({ drillId: 'amended', name: 'amended charter', channel: 'US-CN', timeScale: 1, deadlines: {} });
    const inject = await dir.send({ toState: 'CN', asState: 'US', level: 'PRIORITY', text: 'inject 0', drill: { drillId: 'amended', inject: 0 } });
    await until(() => listener.history.has(inject.id));
    await until(() => listener.history.list({ kinds: ['receipt'], direction: 'out' }).some((m) => m.refs?.[0] === inject.id)).catch((e: unknown) => {
      throw new Error(`no receipt; warnings: ${JSON.stringify(warnings)}`, { cause: e });
    });
    expect(warnings).toEqual([]);
  }, 30_000);

  it('two processes on one home (listen and a one-shot command) both send on the channel: both accepted, no alarm', async () => {
    await initCrypto();
    const relay = await startTestRelay();
    relays.push(relay);
    const us = await enrolPoc(relay, { root, label: 'us2', state: 'US' });
    const cn = await enrolPoc(relay, { root, label: 'cn2', state: 'CN' });
    await chartered(relay, 'US-CN', [us, cn]);
    const listener = await connected(cn);
    const oneShot = await connected(cn);
    const warnings = complaintsOf(listener, oneShot);
    const sent = await Promise.all([
      listener.send({ toState: 'US', level: 'ROUTINE', text: 'from the listening process' }),
      oneShot.send({ toState: 'US', level: 'ROUTINE', text: 'from the one-shot command' }),
      listener.send({ toState: 'US', level: 'ROUTINE', text: 'from the listening process, again' }),
      oneShot.send({ toState: 'US', level: 'ROUTINE', text: 'from the one-shot command, again' }),
    ]);
    expect(new Set(sent.map((s) => s.id)).size).toBe(4);
    expect(warnings).toEqual([]);
  }, 30_000);
});
