// The client's evidence against a hostile relay: its own chain kept whole on every relay, senders' gaps found and
// alarmed (MISSING, REORDERED) unless the relay proves them innocent, re-timed receipts kept, forged events dropped,
// and witness statements signed after acks.
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  initCrypto,
  signReceipt,
  verifyWitness,
  type RelayReceipt,
} from '../../shared/index.ts';
import { HotlineClient, type EscalationInfo, type SendResult } from '../../client/hotline-client.ts';
import { parseWitnessFile, readWitnessStatements, witnessFileOf } from '../../client/evidence/witness-file.ts';
import type { Keystore } from '../../client/keystore.ts';
import type { Profile } from '../../client/profile.ts';
import { hotline } from '../helpers/cli.ts';
import { enrolPoc, joinRelays, pocClient, whenConnected, type EnrolledPoc } from '../helpers/poc.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { startTamperProxy, type Frame, type TamperProxy } from '../helpers/tamper-proxy.ts';
import { chartered, installCharter, installRosters, postTrust } from '../helpers/trust.ts';

const root = tempDir('evidence-client');
const relays: TestRelay[] = [];
const clients: HotlineClient[] = [];
const proxies: TamperProxy[] = [];
const GRACE = 300;

interface Alarm {
  code: string;
  message: string;
  id: string | null;
}

function alarmsOf(client: HotlineClient): Alarm[] {
  const alarms: Alarm[] = [];
  client.on('alarm', (a) => alarms.push(a));
  return alarms;
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connected(poc: EnrolledPoc, via?: string): Promise<HotlineClient> {
  const client = pocClient(poc, { via, reconnect: false, chainGraceMs: GRACE });
  clients.push(client);
  await client.connect();
  expect(await whenConnected(client, 3000)).toBe(true);
  return client;
}

/** One relay with the US-CN charter and a PoC of each state on the rosters. */
async function setup(label: string, deadlines: Record<string, number> = {}, directors: string[] = []): Promise<{ relay: TestRelay; us: EnrolledPoc; cn: EnrolledPoc }> {
  const relay = await startTestRelay();
  relays.push(relay);
  const us = await enrolPoc(relay, { root, label: `${label}-us`, state: 'US', name: 'US CERT duty officer' });
  const cn = await enrolPoc(relay, { root, label: `${label}-cn`, state: 'CN', name: 'CN CERT duty officer' });
  await chartered(relay, 'US-CN', [us, cn], { deadlines, directors });
  return { relay, us, cn };
}

const envelopeOf = (f: Frame) => f.envelope as { header: { id: string; from: string; kind: string; chanSeq?: number } } | undefined;

beforeAll(initCrypto);
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of proxies.splice(0)) await p.close();
  for (const r of relays.splice(0)) await r.dispose().catch(() => undefined);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('HotlineClient sender chain (sending)', () => {
  const joinBoth = (label: string, state: string, on: readonly TestRelay[]) => joinRelays(root, label, state, on);

  it('resends to a relay that was down the envelopes it missed, so both relays end up with the whole chain', async () => {
    const a = await startTestRelay();
    const b = await startTestRelay();
    relays.push(b);
    for (const r of [a, b]) await adminCall(r, 'POST', '/channels', { a: 'US', b: 'CN' });
    const usParts = await joinBoth('two-us', 'US', [a, b]);
    const cnParts = await joinBoth('two-cn', 'CN', [a, b]);
    const docs: unknown[] = [await installCharter(a, 'US-CN')];
    docs.push(...(await installRosters(a, [usParts, cnParts].map((p) => ({ kid: p.profile.kid, state: p.profile.state as string, name: p.profile.name, role: 'poc' })))).values());
    for (const doc of docs) await postTrust(b, (doc as { charter?: unknown }).charter ? 'charters' : 'rosters', doc);
    const make = (p: { keystore: Keystore; profile: Profile }) => {
      const c = new HotlineClient({ keystore: p.keystore, profile: p.profile, relays: p.profile.relays.map((r) => r.url), reconnect: true, chainGraceMs: GRACE });
      clients.push(c);
      return c;
    };
    const us = make(usParts);
    const cn = make(cnParts);
    const usAlarms = alarmsOf(us);
    const cnAlarms = alarmsOf(cn);
    await us.connect();
    await cn.connect();
    const usKid = usParts.profile.kid;

    const first = await us.send({ toState: 'CN', level: 'FLASH', text: 'one' });
    expect(first.receipts).toHaveLength(2);
    const { port, dataDir } = a;
    await a.close();
    await sleep(100);
    const second = await us.send({ toState: 'CN', level: 'FLASH', text: 'two, while relay A is down' });
    expect(second.receipts).toHaveLength(1);

    const restarted = await startTestRelay({ dataDir, config: { port } });
    relays.push(restarted);
    await until(() => us.channels.length > 0 && (us as unknown as { connections: { url: string; ready: boolean }[] }).connections.every((c) => c.ready), 15_000);
    expect(restarted.store.chainHead(usKid, 'US-CN')?.chanSeq).toBe(1);

    const third = await us.send({ toState: 'CN', level: 'FLASH', text: 'three, both up again' });
    expect(third.receipts).toHaveLength(2);
    expect(third.failed).toEqual([]);
    for (const relay of [restarted, b]) {
      expect(relay.store.chainHead(usKid, 'US-CN')?.chanSeq).toBe(3);
      expect(relay.store.chainRange(usKid, 'US-CN', 1, 3, 1 << 30).map((r) => r.chanSeq)).toEqual([1, 2, 3]);
    }
    expect(us.history.ownChainHead('US-CN')?.chanSeq).toBe(3);
    await until(() => cn.history.has(third.id));
    await sleep(GRACE * 2);
    expect(usAlarms).toEqual([]);
    expect(cnAlarms.filter((x) => ['MISSING', 'REORDERED', 'CHAIN_FORK', 'CHAIN_BROKEN'].includes(x.code))).toEqual([]);
  }, 30_000);
});

describe('HotlineClient sender chain (a forged head)', () => {
  it('does not adopt a chain head named in a forged CHAIN_BROKEN error on its first send; the next honest attempt goes through', async () => {
    const { us, cn } = await setup('forged-head');
    const proxy = await startTamperProxy(relays[0]?.url as string);
    proxies.push(proxy);
    let forged = 0;
    proxy.toClient = (f, link) => {
      if (link.kid === us.profile.kid && f.type === 'accepted' && forged === 0) {
        forged++;
        return { type: 'error', rid: f.rid, code: 'CHAIN_BROKEN', message: 'chain broken', detail: { channel: 'US-CN', chanSeq: 41, hash: 'F'.repeat(43) } };
      }
      return f;
    };
    const usClient = await connected(us, proxy.url);
    await connected(cn);
    const alarms = alarmsOf(usClient);
    await expect(usClient.send({ toState: 'CN', level: 'FLASH', text: 'the relay answers with a forged head' })).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
    expect(usClient.history.ownChainHead('US-CN')?.chanSeq ?? 0).not.toBe(41);
    expect(alarms.some((a) => a.code === 'CHAIN_BROKEN')).toBe(true);
    // The relay did accept that first envelope (only its answer was forged): the real head is one this PoC signed, so it is taken.
    const next = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'the honest answer' });
    expect(next.receipts).toHaveLength(1);
    expect(usClient.history.ownChainHead('US-CN')?.chanSeq).toBe(2);
    expect(relays[0]?.store.chainHead(us.profile.kid, 'US-CN')?.chanSeq).toBe(2);
  });
});

describe('HotlineClient sender chain (receiving)', () => {
  it('alarms MISSING after the grace period when a relay drops an envelope for good and will not hand it over', async () => {
    const { us, cn } = await setup('drop');
    const proxy = await startTamperProxy(relays[0]?.url as string);
    proxies.push(proxy);
    let dropped: { id: string; chanSeq: number } | null = null;
    let notices = 0;
    proxy.toClient = (f, link) => {
      const h = envelopeOf(f)?.header;
      if (link.kid === cn.profile.kid && f.type === 'deliver' && h?.from === us.profile.kid && h.kind === 'notice') {
        notices++;
        if (notices === 2 || dropped?.id === h.id) {
          dropped = { id: h.id, chanSeq: h.chanSeq ?? 0 };
          return null;
        }
      }
      if (f.type === 'chain' && dropped) {
        const gone = dropped;
        const items = (f.items as { header: { id: string } }[]).filter((i) => i.header.id !== gone.id);
        return { ...f, items, missing: [...(f.missing as number[]), gone.chanSeq] };
      }
      return f;
    };
    const usClient = await connected(us);
    const cnClient = await connected(cn, proxy.url);
    const alarms = alarmsOf(cnClient);
    await usClient.send({ toState: 'CN', level: 'ROUTINE', text: 'first' });
    const lost = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'this one is dropped' });
    const third = await usClient.send({ toState: 'CN', level: 'ROUTINE', text: 'third' });
    await until(() => cnClient.history.has(third.id));
    // Within the grace period: not yet alarmed (it may still come).
    expect(alarms.filter((a) => a.code === 'MISSING')).toEqual([]);
    await until(() => alarms.some((a) => a.code === 'MISSING'), 5000);
    const missing = alarms.filter((a) => a.code === 'MISSING');
    expect(missing).toHaveLength(1);
    expect(missing[0]?.message).toMatch(/never arrived: number 2 of its chain/);
    expect(missing[0]?.message).toContain('US-CN');
    expect(missing[0]?.message).toContain(us.profile.kid.slice(0, 8));
    expect(cnClient.history.has(lost.id)).toBe(false);
    // Kept for `hotline inbox`, which lists it above the notices (through the same hostile relay).
    expect(cnClient.history.alarms({ open: true, code: 'MISSING', channel: 'US-CN' })).toHaveLength(1);
    cnClient.close();
    const inbox = await hotline(['inbox', '--relay', proxy.url], { home: cn.home, passphrase: cn.passphrase });
    expect(inbox.code, inbox.stderr).toBe(0);
    expect(inbox.stdout).toMatch(/^1 open alarm\(s\):\n.*MISSING/);
    const json = await hotline(['inbox', '--relay', proxy.url, '--json'], { home: cn.home, passphrase: cn.passphrase });
    expect((JSON.parse(json.stdout) as { alarms: { code: string }[] }).alarms.map((a) => a.code)).toEqual(['MISSING']);
  });

  it("alarms MISSING for a new sender's first envelopes the relay drops and will not show (an error frame for chain.get)", async () => {
    const { us, cn } = await setup('first-contact');
    const proxy = await startTamperProxy(relays[0]?.url as string);
    proxies.push(proxy);
    const dropped = new Set<string>();
    proxy.toClient = (f, link) => {
      const h = envelopeOf(f)?.header;
      if (link.kid === cn.profile.kid && f.type === 'deliver' && h?.from === us.profile.kid && (h.chanSeq ?? 0) <= 2) {
        dropped.add(h.id);
        return null;
      }
      // The relay's answer to CN's chain.get becomes an (unsigned) error: "nothing to show".
      if (link.kid === cn.profile.kid && f.type === 'chain') return { type: 'error', rid: f.rid, code: 'INTERNAL', message: 'internal error' };
      return f;
    };
    const usClient = await connected(us);
    const cnClient = await connected(cn, proxy.url);
    const alarms = alarmsOf(cnClient);
    await usClient.send({ toState: 'CN', level: 'FLASH', text: 'first, dropped' });
    await usClient.send({ toState: 'CN', level: 'FLASH', text: 'second, dropped' });
    const third = await usClient.send({ toState: 'CN', level: 'ROUTINE', text: 'third, delivered' });
    await until(() => cnClient.history.has(third.id));
    await until(() => alarms.some((a) => a.code === 'MISSING'), 5000);
    expect(dropped.size).toBe(2);
    expect(alarms.find((a) => a.code === 'MISSING')?.message).toMatch(/never arrived: numbers? 1/);
  });

  it('alarms REORDERED when the relay holds an envelope back and delivers it after the next one', async () => {
    const { us, cn } = await setup('reorder');
    const proxy = await startTamperProxy(relays[0]?.url as string);
    proxies.push(proxy);
    let held: Frame | null = null;
    let notices = 0;
    proxy.toClient = (f, link) => {
      const h = envelopeOf(f)?.header;
      if (link.kid === cn.profile.kid && f.type === 'deliver' && h?.from === us.profile.kid && h.kind === 'notice') {
        notices++;
        if (notices === 2) {
          held = f;
          return null;
        }
        if (held) {
          const late = held;
          held = null;
          setTimeout(() => link.toClient(late), 0);
        }
      }
      return f;
    };
    const usClient = await connected(us);
    const cnClient = await connected(cn, proxy.url);
    const alarms = alarmsOf(cnClient);
    await usClient.send({ toState: 'CN', level: 'ROUTINE', text: 'first' });
    const late = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'held back' });
    await usClient.send({ toState: 'CN', level: 'ROUTINE', text: 'third' });
    await until(() => alarms.some((a) => a.code === 'REORDERED'));
    const reordered = alarms.filter((a) => a.code === 'REORDERED');
    expect(reordered).toHaveLength(1);
    expect(reordered[0]?.id).toBe(late.id);
    expect(reordered[0]?.message).toMatch(/delivered envelope 2 .* after envelope 3/);
    expect(cnClient.history.has(late.id)).toBe(true);
    await sleep(GRACE * 2);
    expect(alarms.filter((a) => a.code === 'MISSING')).toEqual([]);
  });

  it('raises no alarm for a gap the relay proves was not addressed to this PoC (a drill inject to the other state)', async () => {
    const relay = await startTestRelay();
    relays.push(relay);
    const us = await enrolPoc(relay, { root, label: 'innocent-us', state: 'US' });
    const cn = await enrolPoc(relay, { root, label: 'innocent-cn', state: 'CN' });
    const director = await enrolPoc(relay, { root, label: 'innocent-director', state: 'EXCON', role: 'director' });
    await chartered(relay, 'US-CN', [us, cn], { directors: [director.profile.kid] });
    await connected(us);
    const cnClient = await connected(cn);
    const alarms = alarmsOf(cnClient);
    const dir = await connected(director);
    await dir.startDrill({ drillId: 'innocent', name: 'innocent gap', channel: 'US-CN', timeScale: 1, deadlines: {} });
    const inject = (to: string, as: string, index: number) =>
      dir.send({ toState: to, asState: as, level: 'ROUTINE', text: `inject ${index}`, drill: { drillId: 'innocent', inject: index } });
    await inject('CN', 'US', 0);
    const toUs = await inject('US', 'CN', 1);
    const last = await inject('CN', 'US', 2);
    await until(() => cnClient.history.has(last.id));
    await until(() => cnClient.history.senderChain('US-CN', director.profile.kid).position?.chanSeq === 3, 3000);
    await sleep(GRACE * 3);
    expect(cnClient.history.has(toUs.id)).toBe(false);
    expect(cnClient.history.senderChain('US-CN', director.profile.kid).position?.chanSeq).toBe(3);
    expect(cnClient.history.missingLinks()).toEqual([]);
    expect(alarms).toEqual([]);
  });
});

describe('HotlineClient receipts and relay events', () => {
  it('keeps a receipt re-timed by 10 minutes as evidence and alarms BAD_RECEIPT, and still stores and shows the notice', async () => {
    const { relay, us, cn } = await setup('retimed');
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    const retime = (r: RelayReceipt): RelayReceipt =>
      signReceipt(relay.identity, { id: r.id, hash: r.hash, acceptedAt: r.acceptedAt + 10 * 60_000, auditSeq: r.auditSeq, ackDeadline: r.ackDeadline, ...(r.auditHash ? { auditHash: r.auditHash } : {}) });
    proxy.toClient = (f) => {
      const h = envelopeOf(f)?.header;
      if (f.type === 'deliver' && h?.kind === 'notice') return { ...f, receipt: retime(f.receipt as RelayReceipt) };
      if (f.type === 'accepted' && (f.receipt as RelayReceipt | undefined)?.ackDeadline !== null) return { ...f, receipt: retime(f.receipt as RelayReceipt) };
      return f;
    };
    const usClient = await connected(us, proxy.url);
    const cnClient = await connected(cn, proxy.url);
    const usAlarms = alarmsOf(usClient);
    const cnAlarms = alarmsOf(cnClient);
    const shown: string[] = [];
    cnClient.on('notice', (m) => shown.push(m.id));
    const sent = await usClient.send({ toState: 'CN', level: 'FLASH', text: 're-timed on the way' });
    await until(() => shown.includes(sent.id));
    expect(cnClient.history.has(sent.id)).toBe(true);
    expect(cnAlarms.filter((a) => a.code === 'BAD_RECEIPT').map((a) => a.id)).toEqual([sent.id]);
    expect(cnClient.history.receiptProblems().map((p) => p.envelopeId)).toEqual([sent.id]);
    expect(cnClient.history.receiptProblems()[0]?.receipt.acceptedAt).toBeGreaterThan(Date.now() + 5 * 60_000);
    // The sender's own receipt came back re-timed too: its clock says so.
    expect(usAlarms.filter((a) => a.code === 'BAD_RECEIPT').map((a) => a.id)).toEqual([sent.id]);
    expect(usClient.history.receiptProblems()[0]?.problem).toMatch(/accepted at/);
    expect(usClient.history.has(sent.id)).toBe(true);
  });

  it('drops an injected unsigned "overdue" event and a forged copy of a genuine one, and shows the genuine one', async () => {
    const { relay, us, cn } = await setup('events', { FLASH: 800 });
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    let forgedOnce = false;
    proxy.toClient = (f, link) => {
      const event = f.event as { kind: string; data: Record<string, unknown> } | undefined;
      if (f.type === 'event' && event?.kind === 'overdue' && !forgedOnce) {
        forgedOnce = true;
        // Ahead of the genuine event, a copy under its audit seq with another deadline: it must not take its place.
        link.toClient({ ...f, event: { ...event, data: { ...event.data, deadline: 0 } } });
      }
      return f;
    };
    const usClient = await connected(us);
    const cnClient = await connected(cn, proxy.url);
    const alarms = alarmsOf(cnClient);
    const events: EscalationInfo[] = [];
    cnClient.on('relayEvent', (e) => events.push(e));
    const cnLink = proxy.links.find((l) => l.kid === cn.profile.kid);
    cnLink?.toClient({ type: 'event', event: { kind: 'overdue', auditSeq: 424242, at: Date.now(), data: { id: '01900000-0000-7000-8000-000000000000', level: 'FLASH', deadline: Date.now() } } });
    const sent = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'nobody acknowledges this' });
    await until(() => events.some((e) => e.kind === 'overdue'), 8000);
    await sleep(100);
    const overdue = events.filter((e) => e.kind === 'overdue');
    expect(overdue).toHaveLength(1);
    expect(overdue[0]?.data.id).toBe(sent.id);
    expect(overdue[0]?.data.deadline).toBe(sent.ackDeadline);
    expect(events.some((e) => e.auditSeq === 424242)).toBe(false);
    const dropped = alarms.filter((a) => a.code === 'BAD_SIGNATURE');
    expect(dropped).toHaveLength(2);
    for (const a of dropped) expect(a.message).toMatch(/dropped an unsigned\/forged relay event "overdue"/);
  });

  it('does not show a genuine signed event again when it is replayed on the wire, even to a restarted client', async () => {
    const { relay, us, cn } = await setup('replay', { FLASH: 800 });
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    let captured: Frame | null = null;
    proxy.toClient = (f) => {
      if (f.type === 'event' && (f.event as { kind: string }).kind === 'overdue' && !captured) captured = f;
      return f;
    };
    const usClient = await connected(us);
    const first = await connected(cn, proxy.url);
    const seen: EscalationInfo[] = [];
    first.on('relayEvent', (e) => seen.push(e));
    await usClient.send({ toState: 'CN', level: 'FLASH', text: 'overdue, once' });
    await until(() => seen.some((e) => e.kind === 'overdue'), 8000);
    first.close();
    // A new process on the same HOTLINE_HOME; someone on the path replays the captured event.
    const again = await connected(cn, proxy.url);
    const replayed: EscalationInfo[] = [];
    again.on('relayEvent', (e) => replayed.push(e));
    for (const link of proxy.links.filter((l) => l.kid === cn.profile.kid)) link.toClient(captured as unknown as Frame);
    await sleep(300);
    expect(captured).not.toBeNull();
    expect(replayed).toEqual([]);
  });
});

describe('HotlineClient witness statements', () => {
  it('signs the audit head of its ack receipt, hands it to the relay and keeps it; the witness file reads it back', async () => {
    const { relay, us, cn } = await setup('witness');
    const usClient = await connected(us);
    const cnClient = await connected(cn);
    const notice = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'please acknowledge' });
    await until(() => cnClient.history.has(notice.id));
    const ack = await cnClient.ack(notice.id);
    await cnClient.settle();
    const kept = cnClient.history.witnesses();
    const receipt = ack.receipts[0] as RelayReceipt;
    expect(kept.map((w) => ({ seq: w.statement.seq, head: w.statement.head, outcome: w.outcome }))).toEqual([{ seq: receipt.auditSeq, head: receipt.auditHash, outcome: 'ok' }]);
    const statement = kept[0]?.statement;
    expect(statement?.relay).toBe(relay.identity.kid);
    expect(statement?.kid).toBe(cn.profile.kid);
    if (statement) verifyWitness(statement);
    // On the relay's audit chain.
    expect(relay.store.auditHashAt(receipt.auditSeq)).toBe(receipt.auditHash);
    expect(readWitnessStatements(cn.home)).toEqual([statement]);
    const file = witnessFileOf(cn.home);
    expect(file).toMatchObject({ format: 'hotline-witness-v1', kid: cn.profile.kid, state: 'CN' });
    expect(parseWitnessFile(JSON.stringify(file))).toEqual([statement]);
    expect(() => parseWitnessFile({ ...file, statements: [{ ...statement, seq: (statement?.seq ?? 0) + 1 }] })).toThrow(/does not verify/);
  });

  it('keeps a statement for every ack of a burst and hands the relay the newest without running into its rate limit', async () => {
    const { relay, us, cn } = await setup('witness-burst');
    const usClient = await connected(us);
    const cnClient = await connected(cn);
    const notices: SendResult[] = [];
    for (let i = 0; i < 40; i++) notices.push(await usClient.send({ toState: 'CN', level: 'ROUTINE', text: `burst ${i}` }));
    await until(() => notices.every((n) => cnClient.history.has(n.id)));
    const acks = await Promise.all(notices.map((n) => cnClient.ack(n.id)));
    await cnClient.settle();
    const kept = cnClient.history.witnesses();
    expect(kept).toHaveLength(40);
    expect(kept.filter((w) => w.outcome === 'RATE_LIMITED')).toEqual([]);
    // The newest head reached the chain; those it overtook are covered by it (hash-linked) and kept here.
    const newest = Math.max(...acks.map((a) => (a.receipts[0] as RelayReceipt).auditSeq));
    const inChain = relay.store.db.prepare("SELECT data_json FROM audit_events WHERE type = 'witness'").all() as { data_json: string }[];
    expect(inChain.map((r) => (JSON.parse(r.data_json) as { seq: number }).seq)).toContain(newest);
    expect(kept.every((w) => w.outcome === 'ok' || w.outcome === 'covered')).toBe(true);
  });

  it('witnesses, every witnessEveryMs while connected, the highest audit head it has seen from the relay when it changed', async () => {
    const { us, cn } = await setup('periodic');
    const usClient = pocClient(us, { reconnect: false, witnessEveryMs: 150 });
    clients.push(usClient);
    await usClient.connect();
    await connected(cn);
    expect(await whenConnected(usClient, 3000)).toBe(true);
    const sent = await usClient.send({ toState: 'CN', level: 'ROUTINE', text: 'a head to witness' });
    const seen = sent.receipts[0] as RelayReceipt;
    await until(() => usClient.history.witnesses().some((w) => w.statement.seq >= seen.auditSeq && w.outcome === 'ok'), 3000);
    // Several periods later: one statement per head seen, never the same head twice.
    await sleep(600);
    const seqs = usClient.history.witnesses().map((w) => w.statement.seq);
    expect(seqs.length).toBeGreaterThan(0);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.length).toBeLessThan(4);
  });

  it('alarms WITNESS_MISMATCH when the relay showed it a head that its chain does not hold', async () => {
    const { relay, us, cn } = await setup('mismatch');
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    proxy.toClient = (f, link) => {
      const r = f.receipt as RelayReceipt | undefined;
      if (link.kid === cn.profile.kid && f.type === 'accepted' && r) {
        return { ...f, receipt: signReceipt(relay.identity, { id: r.id, hash: r.hash, acceptedAt: r.acceptedAt, auditSeq: r.auditSeq, ackDeadline: r.ackDeadline, auditHash: 'B'.repeat(43) }) };
      }
      return f;
    };
    const usClient = await connected(us);
    const cnClient = await connected(cn, proxy.url);
    const alarms = alarmsOf(cnClient);
    const notice = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'please acknowledge' });
    await until(() => cnClient.history.has(notice.id));
    await cnClient.ack(notice.id);
    await cnClient.settle();
    expect(alarms.filter((a) => a.code === 'WITNESS_MISMATCH')).toHaveLength(1);
    expect(cnClient.history.witnesses().map((w) => w.outcome)).toContain('WITNESS_MISMATCH');
  });
});
