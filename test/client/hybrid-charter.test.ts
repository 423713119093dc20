// A charter that requires post-quantum hybrid wrapping, end to end over a real relay: hybrid by default, and every
// way a relay or a sender could fall back to X25519 alone is refused.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPrekey, fromB64u, initCrypto, isHybridEnvelope, parseEnvelope, signManifest, verifyReviewBundle, type KeyWrapReport, type SignedPrekey } from '../../shared/index.ts';
import { buildReviewBundle } from '../../server/review-export.ts';
import type { HotlineClient } from '../../client/hotline-client.ts';
import { connectedClient, enrolPoc, until, type EnrolledPoc } from '../helpers/poc.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { startTamperProxy, type Frame, type TamperProxy } from '../helpers/tamper-proxy.ts';
import { chartered } from '../helpers/trust.ts';

const root = tempDir('hybrid-charter');
let relay: TestRelay;
const clients: HotlineClient[] = [];
const proxies: TamperProxy[] = [];

beforeAll(initCrypto);
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of proxies.splice(0)) await p.close();
  await relay?.dispose();
});

const connected = (poc: EnrolledPoc, via?: string): Promise<HotlineClient> => connectedClient(clients, poc, { via });

/** The offline verifier's key-wrap report over the relay's whole export. */
function verifiedKeyWrap(): KeyWrapReport {
  relay.context.acceptContext.audit.checkpointIfDue(true);
  const bundle = buildReviewBundle(relay.store.db, {}, Date.now(), { kid: relay.identity.kid, sign: (fields) => signManifest(relay.identity, fields) });
  return verifyReviewBundle(bundle, { relayKid: relay.identity.kid }).keyWrap;
}

async function setup(label: string, requireHybrid: boolean): Promise<{ us: EnrolledPoc; cn: EnrolledPoc }> {
  relay = await startTestRelay();
  const us = await enrolPoc(relay, { root, label: `${label}-us`, state: 'US', name: 'US CERT duty officer' });
  const cn = await enrolPoc(relay, { root, label: `${label}-cn`, state: 'CN', name: 'CN CERT duty officer' });
  await chartered(relay, 'US-CN', [us, cn], { requireHybrid });
  return { us, cn };
}

/** A genuine X25519-only prekey of `poc` (what its client published before hybrid wrapping), still in its window. */
function oldPrekeyOf(poc: EnrolledPoc): SignedPrekey {
  return createPrekey(poc.keystore.identity, Date.now() - 60_000, undefined, { kemSeed: null }).prekey;
}

/** Rewrites the `keys` answers the relay sends to one client: each CN entry's prekey through `change`. */
function rewriteCnPrekeys(proxy: TamperProxy, change: (p: SignedPrekey) => unknown): void {
  proxy.toClient = (f: Frame) => {
    if (f.type !== 'keys') return f;
    const entries = (f.entries as { state: string; prekey: SignedPrekey | null }[]).map((e) => (e.state === 'CN' && e.prekey ? { ...e, prekey: change(e.prekey) } : e));
    return { ...f, entries };
  };
}

describe('hybrid charter: the honest path', () => {
  it('a notice on a hybrid-required channel wraps every key with ML-KEM-768, and the recipient reads it', async () => {
    const { us, cn } = await setup('honest', true);
    const usClient = await connected(us);
    const cnClient = await connected(cn);
    const seen: string[] = [];
    cnClient.on('notice', (n) => seen.push(n.id));
    const sent = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'Scanning from AS64500 against the grid operator' });
    await until(() => seen.includes(sent.id));
    expect(seen).toContain(sent.id);
    const stored = relay.store.envelopeById(sent.id)?.envelope;
    expect(stored && isHybridEnvelope(stored)).toBe(true);
    for (const r of stored?.recipients ?? []) expect(fromB64u(r.kemCiphertext as string)).toHaveLength(1088);
    await cnClient.ack(sent.id, 'seen');
    await cnClient.settle();
    const report = verifiedKeyWrap();
    expect(report.hybrid).toContain(sent.id);
    expect(report.hybrid.length).toBeGreaterThanOrEqual(2); // the notice and its ack
    expect(report.x25519Only).toEqual([]);
  });
});

describe('hybrid charter: a relay falling back to X25519', () => {
  it('serves a genuine old X25519-only prekey: the sender refuses to send (HYBRID_REQUIRED), nothing is accepted', async () => {
    const { us, cn } = await setup('old-prekey', true);
    await connected(cn);
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    const old = oldPrekeyOf(cn);
    rewriteCnPrekeys(proxy, () => old);
    const usClient = await connected(us, proxy.url);
    const sentFrames: Frame[] = [];
    proxy.toRelay = (f: Frame) => (f.type === 'send' ? (sentFrames.push(f), f) : f);
    await expect(usClient.send({ toState: 'CN', level: 'FLASH', text: 'Scanning' })).rejects.toMatchObject({ code: 'HYBRID_REQUIRED' });
    expect(sentFrames).toEqual([]);
    expect(relay.store.pendingCount(cn.keystore.identity.kid)).toBe(0);
  });

  it('where hybrid is not required, the same old prekey is used with X25519 alone (the charter decides)', async () => {
    const { us, cn } = await setup('old-prekey-ok', false);
    await connected(cn);
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    const old = oldPrekeyOf(cn);
    rewriteCnPrekeys(proxy, () => old);
    const usClient = await connected(us, proxy.url);
    const sent = await usClient.send({ toState: 'CN', level: 'ROUTINE', text: 'Routine status' });
    const stored = relay.store.envelopeById(sent.id)?.envelope;
    expect(stored?.recipients.find((r) => r.kid === cn.keystore.identity.kid)?.kemCiphertext).toBeUndefined();
  });

  it('strips the ML-KEM key from the current prekey: its signature fails and nothing is sent', async () => {
    const { us, cn } = await setup('strip', false);
    await connected(cn);
    const proxy = await startTamperProxy(relay.url);
    proxies.push(proxy);
    rewriteCnPrekeys(proxy, ({ kemPublicKey: _dropped, ...rest }) => rest);
    const usClient = await connected(us, proxy.url);
    await expect(usClient.send({ toState: 'CN', level: 'FLASH', text: 'Scanning' })).rejects.toMatchObject({ code: 'PREKEY_BAD_SIGNATURE' });
  });
});

describe('hybrid charter: a sender falling back to X25519', () => {
  it('an X25519-only envelope on a hybrid-required channel is refused by the recipient: alarm, not shown', async () => {
    relay = await startTestRelay();
    const us = await RawPeer.enrol(relay, 'US', 'poc', 'US CERT duty officer');
    const cn = await enrolPoc(relay, { root, label: 'sender-cn', state: 'CN', name: 'CN CERT duty officer' });
    await chartered(relay, 'US-CN', [us, cn], { requireHybrid: true });
    const cnClient = await connected(cn);
    const alarms: { code: string; id: string | null }[] = [];
    const notices: string[] = [];
    cnClient.on('alarm', (a) => alarms.push(a));
    cnClient.on('notice', (n) => notices.push(n.id));
    await us.connect(relay.url);
    // A modified US client wraps for an old CN prekey with X25519 alone; the relay cannot tell and accepts it.
    const target = { identity: cn.keystore.identity, prekey: { prekey: oldPrekeyOf(cn) } } as unknown as RawPeer;
    const env = us.envelope([target], { channel: 'US-CN' }, 'Stand down');
    expect(isHybridEnvelope(parseEnvelope(env))).toBe(false);
    expect((await us.submit(env)).type).toBe('accepted');
    await until(() => alarms.length > 0);
    expect(alarms[0]).toMatchObject({ code: 'HYBRID_REQUIRED', id: env.header.id });
    expect(notices).toEqual([]);
    expect(cnClient.history.has(env.header.id)).toBe(false);
    // The reviewer sees it too: genuine and signed, but against the charter.
    expect(verifiedKeyWrap()).toMatchObject({ x25519Only: [env.header.id], againstCharter: [env.header.id] });
    us.close();
  });
});
