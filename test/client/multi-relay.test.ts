import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCrypto } from '../../shared/index.ts';
import { HotlineClient } from '../../client/hotline-client.ts';
import type { MessageRecord } from '../../client/history.ts';
import type { Keystore } from '../../client/keystore.ts';
import type { Profile } from '../../client/profile.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { joinRelays } from '../helpers/poc.ts';
import { installCharter, installRosters, postTrust } from '../helpers/trust.ts';

// Redundancy: one PoC on two relays run by different operators — sends go to both, receipt is deduped to exactly once.
let root: string;
let relays: TestRelay[] = [];
const clients: HotlineClient[] = [];

const joinBoth = (label: string, state: string) => joinRelays(root, label, state, relays);

/**
 * The authorities' part on both relays: the same signed charter and rosters on each (two operators serve one
 * channel; different documents under one version would be a split view).
 */
async function charteredOnBoth(parts: readonly { keystore: Keystore; profile: Profile }[]): Promise<void> {
  const [first, ...others] = relays as [TestRelay, ...TestRelay[]];
  const docs: unknown[] = [await installCharter(first, 'US-CN')];
  const rosters = await installRosters(first, parts.map((p) => ({ kid: p.profile.kid, state: p.profile.state as string, name: p.profile.name, role: 'poc' })));
  docs.push(...rosters.values());
  for (const relay of others) {
    for (const doc of docs) {
      const kind = (doc as { charter?: unknown }).charter ? 'charters' : 'rosters';
      const r = await postTrust(relay, kind, doc);
      if (r.status !== 201) throw new Error(`POST /v1/trust/${kind}: ${r.status} ${JSON.stringify(r.body)}`);
    }
  }
}

function client(p: { keystore: Keystore; profile: Profile }): HotlineClient {
  const c = new HotlineClient({ keystore: p.keystore, profile: p.profile, relays: p.profile.relays.map((r) => r.url), reconnect: false });
  clients.push(c);
  return c;
}

function collect(c: HotlineClient): MessageRecord[] {
  const got: MessageRecord[] = [];
  c.on('notice', (m) => got.push(m));
  return got;
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};

beforeAll(async () => {
  await initCrypto();
  root = tempDir('multi-relay');
  relays = [await startTestRelay(), await startTestRelay()];
  for (const r of relays) await adminCall(r, 'POST', '/channels', { a: 'US', b: 'CN' });
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of relays) await r.dispose().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe('HotlineClient with two relays', () => {
  it('sends to both relays, and the recipient application sees each notice exactly once; with one relay down, the other carries it', async () => {
    const usParts = await joinBoth('us', 'US');
    const us = client(usParts);
    const cnParts = await joinBoth('cn', 'CN');
    await charteredOnBoth([usParts, cnParts]);
    const cn = client(cnParts);
    const received = collect(cn);
    const alarms: { side: string; code: string }[] = [];
    us.on('alarm', (a) => alarms.push({ side: 'US', code: a.code }));
    cn.on('alarm', (a) => alarms.push({ side: 'CN', code: a.code }));
    await us.connect();
    await cn.connect();

    const first = await us.send({ toState: 'CN', level: 'FLASH', text: 'sent through two operators' });
    expect(first.receipts).toHaveLength(2);
    expect(new Set(first.receipts.map((r) => r.relay)).size).toBe(2);
    await until(() => received.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(received.map((m) => m.id)).toEqual([first.id]);

    await relays[0]?.close();
    await new Promise((r) => setTimeout(r, 100));
    const second = await us.send({ toState: 'CN', level: 'IMMEDIATE', text: 'one relay is down' });
    expect(second.receipts).toHaveLength(1);
    expect(second.receipts[0]?.relay).toBe(relays[1]?.identity.kid);
    await until(() => received.length >= 2);
    expect(received.map((m) => m.id)).toEqual([first.id, second.id]);
    expect(cn.history.list({ kinds: ['notice'] }).map((m) => m.id).sort()).toEqual([first.id, second.id].sort());
    // The two operators serve the same charter and rosters: no split view anywhere, and the recipient, checking each
    // relay's receipt against the charter, raises no alarm at all.
    expect(alarms.filter((a) => a.code === 'SPLIT_VIEW')).toEqual([]);
    expect(alarms.filter((a) => a.side === 'CN')).toEqual([]);
  });
});
