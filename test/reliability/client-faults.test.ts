// Client faults: a recipient offline past the delivery window, connections cut mid-frame, a sender crashing between send and receipt, and clocks 5 min off — each still exactly once to the application.
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  buildEnvelope,
  initCrypto,
  uuidv7,
  verifyReceipt,
  type Envelope,
  type RelayMessage,
} from '../../shared/index.ts';
import type { HotlineClient, SendInput, SendResult } from '../../client/hotline-client.ts';
import { startCuttingProxy, type CuttingProxy } from '../helpers/cutting-proxy.ts';
import { NoticeLedger, historyRowCounts } from '../helpers/notice-ledger.ts';
import { enrolPoc, pocClient, whenConnected } from '../helpers/poc.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { chartered, currentRefs } from '../helpers/trust.ts';

const SEED = Number(process.env.HOTLINE_FAULTS_SEED ?? 9_090_909);
const FIVE_MINUTES = 5 * 60_000;

const root = tempDir('client-faults');
let relay: TestRelay;
const clients: HotlineClient[] = [];
const proxies: CuttingProxy[] = [];
const peers: RawPeer[] = [];
const usedUrls = new Set<string>();

/** A fresh relay with the US–CN channel for each test: recipients of one test are not recipients of the next (each test then charters it and puts its PoCs on the rosters). */
async function freshRelay(): Promise<TestRelay> {
  relay = await startTestRelay();
  // The trust helper keys what it installed by httpUrl: a relay on a port an earlier one of this file had would be
  // taken as chartered already. Start another while that one still holds the port.
  while (usedUrls.has(relay.httpUrl)) {
    const taken = relay;
    relay = await startTestRelay();
    await taken.dispose();
  }
  usedUrls.add(relay.httpUrl);
  await adminCall(relay, 'POST', '/channels', { a: 'US', b: 'CN' });
  return relay;
}

function track(client: HotlineClient): HotlineClient {
  clients.push(client);
  return client;
}

/** Sends `count` notices, `concurrency` at a time; results in send order. */
async function sendMany(client: HotlineClient, count: number, input: (i: number) => SendInput, concurrency = 16): Promise<SendResult[]> {
  const results: SendResult[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) results[i] = await client.send(input(i));
    }),
  );
  return results;
}

function withinSeconds(actual: number, expected: number, seconds: number): void {
  expect(Math.abs(actual - expected)).toBeLessThan(seconds * 1000);
}

beforeAll(initCrypto);

afterEach(async () => {
  for (const c of clients.splice(0)) {
    await c.settle();
    c.close();
  }
  for (const p of peers.splice(0)) p.close();
  for (const p of proxies.splice(0)) await p.close();
  await relay?.dispose();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('a recipient offline for a long stretch', () => {
  it('gets every notice queued while away (more than the delivery window of 256) on reconnect, in order, exactly once', async () => {
    await freshRelay();
    const count = relay.context.config.limits.deliveryWindow + 144;
    const us = await enrolPoc(relay, { root, label: 'offline-us', state: 'US' });
    const cn = await enrolPoc(relay, { root, label: 'offline-cn', state: 'CN' });
    await chartered(relay, 'US-CN', [us, cn]);
    const sender = track(pocClient(us));
    await sender.connect();
    const sent = await sendMany(sender, count, (i) => ({ toState: 'CN', level: 'PRIORITY', text: `queued notice ${i}` }));
    expect(relay.store.pendingCount(cn.profile.kid)).toBe(count);
    const inAcceptanceOrder = [...sent].sort((a, b) => (a.receipts[0]?.auditSeq ?? 0) - (b.receipts[0]?.auditSeq ?? 0)).map((r) => r.id);

    const ledger = new NoticeLedger();
    const recipient = track(pocClient(cn));
    ledger.watch('cn', recipient);
    await recipient.connect();
    await ledger.waitForAll('cn', inAcceptanceOrder, 30_000);
    await recipient.settle();
    expect(ledger.arrived('cn').map((n) => n.id)).toEqual(inAcceptanceOrder);
    expect(ledger.duplicates()).toBe(0);
    recipient.close();
    const rows = historyRowCounts(cn.home);
    expect(inAcceptanceOrder.filter((id) => rows.get(id) !== 1)).toEqual([]);
    expect(rows.size).toBe(count);
  });

  it('gets nothing a second time after a restart of the application once it has confirmed', async () => {
    await freshRelay();
    const us = await enrolPoc(relay, { root, label: 'restart-us', state: 'US' });
    const cn = await enrolPoc(relay, { root, label: 'restart-cn', state: 'CN' });
    await chartered(relay, 'US-CN', [us, cn]);
    const sender = track(pocClient(us));
    await sender.connect();
    const sent = await sendMany(sender, 300, (i) => ({ toState: 'CN', level: 'ROUTINE', text: `before restart ${i}` }));
    const ledger = new NoticeLedger();
    const first = track(pocClient(cn));
    ledger.watch('cn', first);
    await first.connect();
    await ledger.waitForAll('cn', sent.map((r) => r.id), 30_000);
    // Confirmations go out on the next turn; the relay marks them delivered in its next commit.
    await first.drain();
    first.close();

    const again = track(pocClient(cn));
    ledger.watch('cn', again);
    await again.connect();
    const marker = await sender.send({ toState: 'CN', level: 'ROUTINE', text: 'after restart' });
    // Delivery is in acceptance order: anything redelivered to the application would come before the marker.
    await ledger.waitForAll('cn', [marker.id], 10_000);
    expect(ledger.arrived('cn').length).toBe(sent.length + 1);
    expect(ledger.duplicates()).toBe(0);
  });
});

describe('connections cut mid-frame', () => {
  it('delivers every receipted notice exactly once when sender and recipient links are cut at random byte offsets', async () => {
    await freshRelay();
    const random = seededRandom(SEED);
    const us = await enrolPoc(relay, { root, label: 'cut-us', state: 'US' });
    const cn = await enrolPoc(relay, { root, label: 'cut-cn', state: 'CN' });
    await chartered(relay, 'US-CN', [us, cn]);
    const cut = { targetPort: relay.port, random, maxCuts: 15, minBytes: 200, maxBytes: 24_000 };
    const toSender = await startCuttingProxy(cut);
    const toRecipient = await startCuttingProxy(cut);
    proxies.push(toSender, toRecipient);
    const ledger = new NoticeLedger();
    const recipient = track(pocClient(cn, { via: toRecipient.url }));
    ledger.watch('cn', recipient);
    const sender = track(pocClient(us, { via: toSender.url }));
    await recipient.connect().catch(() => undefined);
    await sender.connect().catch(() => undefined);

    const held = new Set<string>();
    let attempts = 0;
    const wanted = 120;
    for (; held.size < wanted && attempts < 3 * wanted; attempts++) {
      if (!(await whenConnected(sender, 10_000))) continue;
      try {
        held.add((await sender.send({ toState: 'CN', level: 'IMMEDIATE', text: `through the cutter ${attempts}` })).id);
      } catch {
        // Cut before the receipt came back: no receipt, nothing owed; the next attempt is a new notice.
      }
    }
    await ledger.waitForAll('cn', held, 30_000);
    await recipient.settle();
    console.log(
      `client-faults cut: seed=${SEED} attempts=${attempts} receiptsHeld=${held.size} cuts=${toSender.cuts()}+${toRecipient.cuts()} ` +
        `delivered=${ledger.arrived('cn').length} duplicates=${ledger.duplicates()}`,
    );
    expect(held.size).toBe(wanted);
    expect([...held].filter((id) => ledger.count('cn', id) !== 1)).toEqual([]);
    expect(ledger.duplicates()).toBe(0);
    expect(toSender.cuts() + toRecipient.cuts()).toBeGreaterThanOrEqual(20);
    recipient.close();
    const rows = historyRowCounts(cn.home);
    expect([...held].filter((id) => rows.get(id) !== 1)).toEqual([]);
  });
});

describe('a sender crashing between send and receipt', () => {
  it('gets the original receipt, marked duplicate, for a resend of the same signed envelope, and the recipient gets it once', async () => {
    await freshRelay();
    const cn = await enrolPoc(relay, { root, label: 'crash-cn', state: 'CN' });
    const ledger = new NoticeLedger();
    const recipient = track(pocClient(cn));
    ledger.watch('cn', recipient);
    await recipient.connect();
    const us = await RawPeer.enrol(relay, 'US');
    await chartered(relay, 'US-CN', [cn, us]);
    const trust = currentRefs(relay.httpUrl, 'US-CN');
    const toCn = [{ kid: cn.profile.kid, prekey: cn.keystore.currentPrekey(Date.now()) }];
    const envelopeFrom = (text: string): Envelope =>
      buildEnvelope({
        sender: us.identity,
        header: { id: uuidv7(Date.now()), channel: 'US-CN', kind: 'notice', fromState: 'US', toState: 'CN', level: 'FLASH', drill: null, seq: ++us.seq, createdAt: Date.now(), refs: [], trust },
        content: { subject: 'crash', text },
        recipients: toCn,
        now: Date.now(),
      });

    // The sender sends and dies before reading the relay's answer: the relay commits, the receipt is never read.
    const envelope = envelopeFrom('sent just before the crash');
    await us.connect(relay.url);
    peers.push(us);
    (us.socket as unknown as { _socket: Socket })._socket.pause();
    us.send({ type: 'send', rid: 'lost', envelope });
    await ledger.waitForAll('cn', [envelope.header.id], 10_000);
    us.socket.terminate();
    const stored = relay.store.envelopeById(envelope.header.id);
    expect(stored).not.toBeNull();

    // Restarted, it resends the very same envelope (twice, for good measure).
    const restarted = new RawPeer(us.identity, us.prekey, 'US', 'poc');
    peers.push(restarted);
    await restarted.connect(relay.url);
    for (const rid of ['resend-1', 'resend-2']) {
      const reply: RelayMessage = await restarted.submit(envelope, rid);
      expect(reply).toMatchObject({ type: 'accepted', rid, duplicate: true });
      if (reply.type !== 'accepted') return;
      expect(reply.receipt).toEqual(stored?.receipt);
      verifyReceipt(reply.receipt, relay.identity.kid);
    }
    const marker = envelopeFrom('after the resends');
    expect(await restarted.submit(marker)).toMatchObject({ type: 'accepted', duplicate: false });
    await ledger.waitForAll('cn', [marker.header.id], 10_000);
    expect(ledger.arrived('cn').map((n) => n.id)).toEqual([envelope.header.id, marker.header.id]);
    const rows = relay.store.db.prepare('SELECT COUNT(*) AS n FROM deliveries WHERE env_rowid = ?').get(stored?.rowid) as { n: number };
    expect(rows.n).toBe(1);
  });
});

describe('clock skew of 5 minutes between a PoC and the relay', () => {
  for (const [label, skew] of [
    ['ahead', FIVE_MINUTES],
    ['behind', -FIVE_MINUTES],
  ] as const) {
    it(`accepts notices from a PoC whose clock runs 5 min ${label}: receipts carry the relay's time, and the skew shows`, async () => {
      await freshRelay();
      const skewed = await enrolPoc(relay, { root, label: `skew-${label}-us`, state: 'US' });
      const cn = await enrolPoc(relay, { root, label: `skew-${label}-cn`, state: 'CN' });
      await chartered(relay, 'US-CN', [skewed, cn]);
      const sender = track(pocClient(skewed, { now: () => Date.now() + skew }));
      const ledger = new NoticeLedger();
      const recipient = track(pocClient(cn));
      ledger.watch('cn', recipient);
      const warnings: string[] = [];
      sender.on('warning', (w) => warnings.push(w.code));
      await Promise.all([sender.connect(), recipient.connect()]);

      const sent = await sender.send({ toState: 'CN', level: 'FLASH', text: `from a clock ${label}` });
      withinSeconds(sent.acceptedAt, Date.now(), 5);
      expect(sent.ackDeadline).toBe(sent.acceptedAt + 5 * 60_000);
      const record = sender.history.get(sent.id);
      withinSeconds((record?.createdAt ?? 0) - sent.acceptedAt, skew, 5);

      await ledger.waitForAll('cn', [sent.id], 10_000);
      const seen = ledger.arrived('cn')[0];
      expect(seen?.acceptedAt).toBe(sent.acceptedAt);
      withinSeconds((seen?.createdAt ?? 0) - (seen?.acceptedAt ?? 0), skew, 5);

      // The ack's timing comes from relay times only: no skew in the time to acknowledge.
      const acked = new Promise<{ timeToAckMs: number | null; late: boolean | null }>((resolve) => sender.once('ack', resolve));
      await recipient.ack(sent.id);
      const ack = await acked;
      expect(ack.late).toBe(false);
      expect(ack.timeToAckMs ?? -1).toBeGreaterThanOrEqual(0);
      expect(ack.timeToAckMs ?? Infinity).toBeLessThan(10_000);
      expect(warnings).toEqual([]);
    });
  }

  it('enrols a PoC whose clock ran 5 min ahead when its keyfile was made (its prekey starts in the relay\'s future)', async () => {
    await freshRelay();
    const ahead = await enrolPoc(relay, { root, label: 'skew-born-ahead', state: 'US', now: Date.now() + FIVE_MINUTES });
    expect(ahead.profile.state).toBe('US');
  });
});
