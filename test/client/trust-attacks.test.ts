// The trust model against a hostile operator and a hostile relay: look-alike PoCs, swapped directories, forged
// senders, stretched deadlines, drills touching real threads and split views never pass for genuine.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  buildEnvelope,
  createIdentity,
  createPrekey,
  initCrypto,
  signReceipt,
  signStatement,
  uuidv7,
  type Envelope,
  type RelayReceipt,
} from '../../shared/index.ts';
import { HotlineClient } from '../../client/hotline-client.ts';
import { connectedClient, enrolPoc, until, type EnrolledPoc } from '../helpers/poc.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { startTamperProxy, type Frame, type TamperProxy } from '../helpers/tamper-proxy.ts';
import { chartered, currentRefs, installCharter, installRosters, postTrust, testAuthority, testCharter } from '../helpers/trust.ts';

const FIVE_MIN = 5 * 60_000;
const root = tempDir('trust-attacks');
let relay: TestRelay;
const clients: HotlineClient[] = [];
const proxies: TamperProxy[] = [];

interface Alarm {
  code: string;
  message: string;
  id: string | null;
}

function watch(client: HotlineClient): { alarms: Alarm[]; notices: string[]; acks: string[] } {
  const seen = { alarms: [] as Alarm[], notices: [] as string[], acks: [] as string[] };
  client.on('alarm', (a) => seen.alarms.push(a));
  client.on('notice', (n) => seen.notices.push(n.id));
  client.on('ack', (a) => seen.acks.push(a.noticeId));
  return seen;
}

const connected = (poc: EnrolledPoc, via?: string): Promise<HotlineClient> => connectedClient(clients, poc, { via });

/** A relay with the US-CN charter (FLASH 5 min), one PoC per state on the rosters, and their keys published. */
async function setup(label: string): Promise<{ us: EnrolledPoc; cn: EnrolledPoc }> {
  relay = await startTestRelay();
  const us = await enrolPoc(relay, { root, label: `${label}-us`, state: 'US', name: 'US CERT duty officer' });
  const cn = await enrolPoc(relay, { root, label: `${label}-cn`, state: 'CN', name: 'CN CERT duty officer' });
  await chartered(relay, 'US-CN', [us, cn], { deadlines: { FLASH: FIVE_MIN } });
  return { us, cn };
}

beforeAll(initCrypto);
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of proxies.splice(0)) await p.close();
  await relay?.dispose();
});
afterAll(() => undefined);

describe('trust: a hostile operator with the admin API alone', () => {
  it('enrols a look-alike CN PoC: US never encrypts to it and its ack closes nothing', async () => {
    const { us, cn } = await setup('lookalike');
    // Cyrillic о in "оfficer": the operator's look-alike of the real CN PoC, enrolled with a plain invite.
    const twin = await RawPeer.enrol(relay, 'CN', 'poc', 'CN CERT duty оfficer');
    await twin.connect(relay.url);
    twin.send({ type: 'prekey.publish', rid: 'pk', prekey: twin.prekey.prekey });
    await twin.reply('pk');
    const usClient = await connected(us);
    const sent = await usClient.send({ toState: 'CN', level: 'FLASH', subject: 'Grid', text: 'Scanning against our grid' });
    const stored = relay.store.envelopeById(sent.id);
    expect(stored?.envelope.recipients.map((r) => r.kid).sort()).toEqual([cn.keystore.identity.kid].sort());
    expect(sent.recipients).toBe(1);
    // The twin acknowledges the FLASH it was never sent: the relay refuses, the thread stays open.
    const ack = twin.envelope([], { kind: 'ack', level: null, refs: [sent.id], toState: 'US', channel: 'US-CN' }, '');
    const refused = await twin.submit(ack);
    expect(refused.type).toBe('error');
    expect(refused.type === 'error' && refused.code).toBe('NOT_IN_ROSTER');
    expect(relay.store.ackDeadlineById(sent.id)?.ackedAt).toBeNull();
    twin.close();
  });

  it('refuses a look-alike name on a roster, and a roster or charter not signed by the authorities', async () => {
    const { cn } = await setup('names');
    const twinKid = createIdentity().kid;
    await expect(installRosters(relay, [{ state: 'CN', kid: twinKid, name: 'CN CERT duty оfficer' }])).rejects.toThrow(/looks like/);
    // The operator signs a CN roster with a key of its own: refused, whatever it lists.
    const { nextRosterBody, signRoster } = await import('../../shared/index.ts');
    const operatorKey = createIdentity();
    const forged = signRoster(operatorKey, nextRosterBody(null, { state: 'CN', authority: operatorKey.kid }, [{ kid: twinKid, name: 'CN watch', role: 'poc' }], Date.now()));
    expect((await postTrust(relay, 'rosters', forged)).body).toMatchObject({ error: { code: 'TRUST_INVALID' } });
    // A charter amendment (FLASH 24 h) signed by the US authority only, or by an operator key as CN: refused.
    const stretched = testCharter('US-CN', { deadlines: { FLASH: 24 * 3600_000 } }, relay.context.acceptContext.trust.latestCharter('US-CN'), { CN: operatorKey });
    expect((await postTrust(relay, 'charters', stretched)).status).toBeGreaterThanOrEqual(400);
    expect(relay.context.acceptContext.trust.latestCharter('US-CN')?.charter.deadlines.FLASH).toBe(FIVE_MIN);
    expect(cn.profile.state).toBe('CN');
  });

  it('refuses a roster version that does not extend the one in force, and a first charter without the operator', async () => {
    const { cn } = await setup('fork');
    const { nextRosterBody, signRoster } = await import('../../shared/index.ts');
    const authority = testAuthority('CN');
    // A second "version 1" (or a v2 that skips the link) signed by the real authority still does not extend v1.
    const again = signRoster(authority, nextRosterBody(null, { state: 'CN', authority: authority.kid }, [{ kid: cn.keystore.identity.kid, name: 'CN other desk', role: 'poc' }], Date.now()));
    expect((await postTrust(relay, 'rosters', again)).body).toMatchObject({ error: { code: 'TRUST_FORK' } });
    const unlinked = signRoster(authority, { ...again.roster, version: 2, prev: 'A'.repeat(43) });
    expect((await postTrust(relay, 'rosters', unlinked)).body).toMatchObject({ error: { code: 'TRUST_FORK' } });
    // Without the admin token nobody opens a channel by installing its first charter.
    expect((await postTrust(relay, 'charters', testCharter('US-RU'), false)).body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(relay.store.getChannel('US-RU')).toBeNull();
  });

  it('answers an identical resend with the original receipt after a new roster came into force', async () => {
    relay = await startTestRelay();
    const us = await RawPeer.enrol(relay, 'US');
    const cn = await RawPeer.enrol(relay, 'CN');
    await chartered(relay, 'US-CN', [us, cn]);
    await us.connect(relay.url);
    const env = us.envelope([cn], { channel: 'US-CN' });
    const first = await us.submit(env, 'r1');
    expect(first.type).toBe('accepted');
    await installRosters(relay, [{ state: 'US', kid: createIdentity().kid, name: 'US night desk' }]);
    const again = await us.submit(env, 'r2');
    expect(again).toMatchObject({ type: 'accepted', duplicate: true });
    // A new envelope naming the old roster version is stale.
    const stale = us.envelope([cn], { channel: 'US-CN', trust: env.header.trust });
    const refused = await us.submit(stale, 'r3');
    expect(refused.type === 'error' && refused.code).toBe('TRUST_STALE');
    us.close();
  });

  it('refuses a reference to another channel\'s envelope, so one channel never pulls in another\'s', async () => {
    relay = await startTestRelay();
    const us = await RawPeer.enrol(relay, 'US');
    const cn = await RawPeer.enrol(relay, 'CN');
    const ru = await RawPeer.enrol(relay, 'RU');
    await chartered(relay, 'US-CN', [us, cn]);
    await chartered(relay, 'US-RU', [ru]);
    await us.connect(relay.url);
    const toCn = us.envelope([cn], { channel: 'US-CN' });
    expect((await us.submit(toCn)).type).toBe('accepted');
    const toRu = us.envelope([ru], { channel: 'US-RU', toState: 'RU', refs: [toCn.header.id] });
    const r = await us.submit(toRu);
    expect(r.type === 'error' && r.code).toBe('UNKNOWN_ID');
    us.close();
  });

  it('carries nothing on a channel without a charter', async () => {
    relay = await startTestRelay();
    await adminCall(relay, 'POST', '/channels', { a: 'US', b: 'CN' });
    const us = await RawPeer.enrol(relay, 'US');
    const cn = await RawPeer.enrol(relay, 'CN');
    await us.connect(relay.url);
    const r = await us.submit(us.envelope([cn], { channel: 'US-CN' }));
    expect(r.type === 'error' && r.code).toBe('NO_CHARTER');
    us.close();
  });
});

describe('trust: a modified relay (a front holding the relay key)', () => {
  it('swaps the real CN PoC for a twin in its keys answer: US refuses to send, naming the missing member', async () => {
    const { us, cn } = await setup('swap');
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    const twin = createIdentity();
    const twinPrekey = createPrekey(twin, Date.now());
    proxy.toClient = (f) => {
      if (f.type !== 'keys') return f;
      const entries = (f.entries as Record<string, unknown>[]).filter((e) => e.kid !== cn.keystore.identity.kid);
      entries.push({ kid: twin.kid, state: 'CN', role: 'poc', name: 'CN CERT duty officer', revoked: false, prekey: twinPrekey.prekey });
      return { ...f, entries };
    };
    const usClient = await connected(us, proxy.url);
    await expect(usClient.send({ toState: 'CN', level: 'FLASH', text: 'Scanning' })).rejects.toMatchObject({ code: 'MEMBER_UNREACHABLE', message: expect.stringContaining('CN CERT duty officer') });
    expect(relay.store.listChannels().length).toBe(1);
    expect(relay.store.totalPending()).toBe(0);
  });

  it('chooses the recipients again when a roster changed between fetching it and sending (TRUST_STALE)', async () => {
    const { us, cn } = await setup('replan');
    const nightDesk = await enrolPoc(relay, { root, label: 'replan-cn-night', state: 'CN', name: 'CN night desk' });
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    let held = false;
    proxy.toRelay = (f, link) => {
      if (f.type !== 'send' || held) return f;
      // The first send waits here while CN's authority adds its night desk; then the relay's answer is "stale".
      held = true;
      void installRosters(relay, [nightDesk]).then(() => link.toClient({ type: 'error', rid: f.rid, code: 'TRUST_STALE', message: 'a new roster came into force' }));
      return null;
    };
    const usClient = await connected(us, proxy.url);
    const sent = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'Scanning' });
    const recipients = relay.store.envelopeById(sent.id)?.envelope.recipients.map((r) => r.kid).sort();
    expect(recipients).toEqual([cn.keystore.identity.kid, nightDesk.keystore.identity.kid].sort());
    expect(sent.recipientList.map((m) => m.name).sort()).toEqual(['CN CERT duty officer', 'CN night desk']);
  });

  it('delivers a FLASH "from US" signed by a key no roster lists: CN alarms and shows nothing', async () => {
    const { cn } = await setup('forged');
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    const cnClient = await connected(cn, proxy.url);
    const seen = watch(cnClient);
    await until(() => proxy.links.some((l) => l.kid === cn.keystore.identity.kid));
    const forger = createIdentity();
    const env = buildEnvelope({
      sender: forger,
      header: { id: uuidv7(Date.now()), channel: 'US-CN', kind: 'notice', fromState: 'US', toState: 'CN', level: 'FLASH', drill: null, seq: 1, createdAt: Date.now(), refs: [], trust: currentRefs(relay, 'US-CN') },
      content: { subject: 'Stand down', text: 'Forged by the relay' },
      recipients: [{ kid: cn.keystore.identity.kid, prekey: cn.keystore.currentPrekey(Date.now()) }],
      now: Date.now(),
    });
    const receipt = relaySigned(env, { ackDeadline: Date.now() + FIVE_MIN });
    proxy.links.find((l) => l.kid === cn.keystore.identity.kid)?.toClient({ type: 'deliver', envelope: env, receipt });
    await until(() => seen.alarms.length > 0);
    expect(seen.alarms[0]).toMatchObject({ code: 'NOT_IN_ROSTER', id: env.header.id });
    expect(seen.notices).toEqual([]);
    expect(cnClient.history.has(env.header.id)).toBe(false);
  });

  it('stretches a FLASH deadline to 24 h in the receipts: sender and recipient alarm and keep the charter figure', async () => {
    const { us, cn } = await setup('stretch');
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    const stretch = (receipt: RelayReceipt): RelayReceipt =>
      receipt.ackDeadline === null ? receipt : signReceipt(relay.identity, { id: receipt.id, hash: receipt.hash, acceptedAt: receipt.acceptedAt, auditSeq: receipt.auditSeq, ackDeadline: receipt.acceptedAt + 24 * 3600_000 });
    proxy.toClient = (f: Frame) => (f.type === 'accepted' || f.type === 'deliver' ? { ...f, receipt: stretch(f.receipt as RelayReceipt) } : f);
    const usClient = await connected(us, proxy.url);
    const cnClient = await connected(cn, proxy.url);
    const usSeen = watch(usClient);
    const cnSeen = watch(cnClient);
    const sent = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'Scanning' });
    expect(sent.ackDeadline).toBe(sent.acceptedAt + FIVE_MIN);
    expect(usSeen.alarms.map((a) => a.code)).toContain('DEADLINE_MISMATCH');
    await until(() => cnSeen.notices.length > 0);
    expect(cnSeen.alarms.map((a) => a.code)).toContain('DEADLINE_MISMATCH');
    expect(cnClient.history.get(sent.id)?.ackDeadline).toBe(sent.acceptedAt + FIVE_MIN);
  });

  it('shows two relays different rosters under one version: the client alarms a split view', async () => {
    const { us, cn } = await setup('split');
    const other = await startTestRelay();
    try {
      // The second relay holds a CN roster v2 that the first does not: the same number, another member list.
      const helperRelayB = { httpUrl: other.httpUrl, adminToken: other.adminToken };
      await installCharter(helperRelayB, 'US-CN', { deadlines: { FLASH: FIVE_MIN } });
      await installRosters(helperRelayB, [us, { state: 'CN', kid: cn.keystore.identity.kid, name: 'CN CERT duty officer' }]);
      await installRosters(helperRelayB, [{ state: 'CN', kid: createIdentity().kid, name: 'CN night desk' }]);
      await installRosters(relay, [{ state: 'CN', kid: createIdentity().kid, name: 'CN day desk' }]);
      // The same US PoC key joins the second relay too (HOTLINE_RELAY lists both).
      const { invite } = await adminCall<{ invite: string }>(other, 'POST', '/invites', { state: 'US' });
      const kid = us.keystore.identity.kid;
      const sig = signStatement(us.keystore.identity, 'hotline-join-v1', { invite, kid, name: us.profile.name });
      const res = await fetch(`${other.httpUrl}/v1/join`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ invite, kid, name: us.profile.name, prekey: us.keystore.currentPrekey(Date.now()), sig }),
      });
      expect(res.status).toBe(201);
      const both = new HotlineClient({
        keystore: us.keystore,
        profile: { ...us.profile, relays: [...us.profile.relays, { url: other.url, kid: other.identity.kid }] },
        relays: [relay.url, other.url],
        reconnect: false,
      });
      clients.push(both);
      const seen = watch(both);
      await both.connect();
      await both.refreshTrust();
      await until(() => seen.alarms.some((a) => a.code === 'SPLIT_VIEW'));
      expect(seen.alarms.map((a) => a.code)).toContain('SPLIT_VIEW');
    } finally {
      await other.dispose();
    }
  });
});

describe('trust: a drill director', () => {
  it('cannot raise a real notice with a drill mark: the relay refuses and a client alarms if a relay forwards it', async () => {
    const { us, cn } = await setup('drill');
    const director = await RawPeer.enrol(relay, 'EXCON', 'director', 'Exercise control');
    await installCharter(relay, 'US-CN', { deadlines: { FLASH: FIVE_MIN }, directors: [director.identity.kid] });
    const usClient = await connected(us);
    const cnClient = await connected(cn);
    const cnSeen = watch(cnClient);
    const real = await usClient.send({ toState: 'CN', level: 'IMMEDIATE', text: 'Real incident' });
    await director.connect(relay.url);
    director.send({ type: 'drill.start', rid: 'd1', drillId: 'd1', name: 'Drill', channel: 'US-CN', timeScale: 1, deadlines: {} });
    expect((await director.reply('d1')).type).toBe('ok');
    director.seq += 1;
    const raiseFor = buildEnvelope({
      sender: director.identity,
      header: {
        id: uuidv7(Date.now()),
        channel: 'US-CN',
        kind: 'raise',
        fromState: 'US',
        toState: 'CN',
        level: 'FLASH',
        drill: { drillId: 'd1', inject: 0, ackWithinMs: 100 },
        seq: director.seq,
        createdAt: Date.now(),
        refs: [real.id],
        trust: currentRefs(relay, 'US-CN'),
      },
      content: { subject: null, text: 'drill raise' },
      recipients: [{ kid: cn.keystore.identity.kid, prekey: cn.keystore.currentPrekey(Date.now()) }],
      now: Date.now(),
    });
    const refused = await director.submit(raiseFor);
    expect(refused.type === 'error' && refused.code).toBe('DRILL_MIXING');
    expect(relay.store.threadDeadlines(real.id).length).toBe(1);
    // A relay that stored it anyway: CN's client refuses it too.
    await until(() => cnClient.history.has(real.id));
    const fake = relaySigned(raiseFor, { ackDeadline: Date.now() + 100 });
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    const cnViaProxy = await connected(cn, proxy.url);
    const viaSeen = watch(cnViaProxy);
    await until(() => proxy.links.some((l) => l.kid === cn.keystore.identity.kid));
    proxy.links.find((l) => l.kid === cn.keystore.identity.kid)?.toClient({ type: 'deliver', envelope: raiseFor, receipt: fake });
    await until(() => viaSeen.alarms.length > 0);
    expect(viaSeen.alarms.map((a) => a.code)).toContain('DRILL_MIXING');
    expect(cnViaProxy.history.has(raiseFor.header.id)).toBe(false);
    expect(cnSeen.alarms).toEqual([]);
    director.close();
  });
});

/** A receipt as the relay would sign it (the hostile front holds the relay key). */
function relaySigned(env: Envelope, fields: { ackDeadline: number | null }): RelayReceipt {
  const { envelopeDigest } = relayDigest;
  return signReceipt(relay.identity, { id: env.header.id, hash: envelopeDigest(env).hash, acceptedAt: Date.now(), auditSeq: 999_999, ackDeadline: fields.ackDeadline });
}
const relayDigest = await import('../../shared/index.ts');
