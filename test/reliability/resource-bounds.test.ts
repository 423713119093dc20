// Resource bounds of a relay process (RSS from /proc): 1,000 idle authenticated connections, a reader that stops reading, a flood of connections that never authenticate; then confidentiality at rest.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import {
  createIdentity,
  initCrypto,
  signStatement,
  toB64u,
  utf8,
  type Identity,
  type RelayMessage,
} from '../../shared/index.ts';
import type { HotlineClient, SendResult } from '../../client/hotline-client.ts';
import { KEYFILE_NAME, openKeystore } from '../../client/keystore.ts';
import { openIdleSocket, openUnauthenticatedSocket, type UnauthenticatedSocket } from '../helpers/bare-sockets.ts';
import { enrolPoc, pocClient, type EnrolledPoc } from '../helpers/poc.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { freePort, killAllRelays, mb, spawnRelay, type RelayProcess } from '../helpers/relay-process.ts';
import { chartered, installRosters } from '../helpers/trust.ts';

type Deliver = Extract<RelayMessage, { type: 'deliver' }>;

/** Generous: these loads, one after the other in one relay, measure 178 MB (idle sockets) to 215 MB (flood peak) here. */
const RSS_LIMIT = 300 * 1024 * 1024;
const IDLE_IDENTITIES = 200;
const SOCKETS_PER_IDENTITY = 5;
const SLOW_READER_NOTICES = 1000;
const FLOOD_SOCKETS = 3000;
/** The relay's defaults (server/config.ts), which the relay process runs with. */
const DELIVERY_WINDOW = 256;
const MAX_UNAUTHENTICATED = 1000;
const AUTH_TIMEOUT_MS = 10_000;
/** A plaintext that must never reach the relay's disk or logs. */
const CANARY = `CANARY-${toB64u(utf8(String(Date.now()))).slice(0, 10)}-plaintext-7f3a`;

const root = tempDir('resource-bounds');
const dataDir = join(root, 'relay');
let relay: RelayProcess;
let sender: EnrolledPoc;
let senderClient: HotlineClient | null = null;
const idleSockets: WebSocket[] = [];
const floodSockets: UnauthenticatedSocket[] = [];
const peers: RawPeer[] = [];
const idleIdentities: Identity[] = [];

function pauseReading(peer: RawPeer): Socket {
  return (peer.socket as unknown as { _socket: Socket })._socket;
}

/** Runs `task(i)` for i in [0, count), `concurrency` at a time. */
async function inParallel<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) results[i] = await task(i);
    }),
  );
  return results;
}

async function enrolIdle(i: number): Promise<Identity> {
  const identity = createIdentity();
  const name = `idle ${i}`;
  const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state: 'IDLE' });
  const sig = signStatement(identity, 'hotline-join-v1', { invite, kid: identity.kid, name });
  const res = await fetch(`${relay.httpUrl}/v1/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ invite, kid: identity.kid, name, prekey: null, sig }),
  });
  if (res.status !== 201) throw new Error(`join refused: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return identity;
}

/** Every file of the relay's data dir, with its bytes. */
function relayFiles(): { name: string; bytes: Buffer }[] {
  return readdirSync(dataDir).map((name) => ({ name, bytes: readFileSync(join(dataDir, name)) }));
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

beforeAll(async () => {
  await initCrypto();
  // The slow reader's socket is paused for as long as the sender takes (a minute or more on a loaded machine): the
  // heartbeat, which would rightly drop a peer that answers no ping for 30 s, is set beyond the test's length.
  relay = await spawnRelay({ dataDir, port: await freePort(), logLevel: 'info', args: ['--heartbeat', '10m'] });
  await adminCall(relay, 'POST', '/channels', { a: 'US', b: 'CN' });
  sender = await enrolPoc(relay, { root, label: 'us-sender', state: 'US' });
  // Only the PoCs that send or receive go on the rosters; the idle identities (state IDLE) merely connect.
  await chartered(relay, 'US-CN', [sender]);
}, 60_000);

afterAll(async () => {
  senderClient?.close();
  for (const ws of idleSockets) ws.terminate();
  for (const s of floodSockets) s.destroy();
  for (const p of peers) p.close();
  killAllRelays();
  rmSync(root, { recursive: true, force: true });
});

describe('relay process under load: memory stays bounded', () => {
  it('holds 1,000 idle authenticated connections', async () => {
    const before = relay.rssBytes();
    idleIdentities.push(...(await inParallel(IDLE_IDENTITIES, 8, enrolIdle)));
    const enrolled = relay.rssBytes();
    // Batches below the cap on unauthenticated connections: each socket is unauthenticated until its welcome.
    const sockets = await inParallel(IDLE_IDENTITIES * SOCKETS_PER_IDENTITY, 100, (i) =>
      openIdleSocket(relay.url, idleIdentities[i % IDLE_IDENTITIES] as Identity),
    );
    idleSockets.push(...sockets);
    const after = relay.rssBytes();
    const health = (await (await fetch(`${relay.httpUrl}/healthz`)).json()) as { connections: number };
    console.log(
      `resource-bounds idle: ${idleSockets.length} authenticated sockets (${IDLE_IDENTITIES} identities) — relay RSS ${mb(before)} at start, ` +
        `${mb(enrolled)} after enrolment, ${mb(after)} with them open (+${mb(after - enrolled)})`,
    );
    expect(health.connections).toBeGreaterThanOrEqual(IDLE_IDENTITIES * SOCKETS_PER_IDENTITY);
    expect(after).toBeLessThan(RSS_LIMIT);
  }, 120_000);

  it('keeps at most one delivery window in flight to a reader that stops reading, however much is sent to it', async () => {
    const reader = await RawPeer.enrol(relay, 'CN');
    peers.push(reader);
    await installRosters(relay, [reader]);
    expect((await reader.connect(relay.url)).type).toBe('welcome');
    const socket = pauseReading(reader);
    socket.pause();
    senderClient = pocClient(sender, { reconnect: false });
    await senderClient.connect();
    const client = senderClient;
    const before = relay.rssBytes();
    const filler = 'The relay must not keep this in memory for a reader that does not read. '.repeat(110);
    const sent: SendResult[] = await inParallel(SLOW_READER_NOTICES, 12, (i) =>
      client.send({ toState: 'CN', level: 'PRIORITY', subject: 'slow reader', text: `${CANARY} notice ${i}. ${filler}` }),
    );
    const stalled = relay.rssBytes();

    socket.resume();
    reader.send({ type: 'ping', rid: 'drain' });
    await reader.next((m) => m.type === 'pong' && m.rid === 'drain', 30_000);
    // Distinct ids: a redelivery of an unconfirmed one is not a new delivery in flight (the last test below covers redelivery).
    const inFlight = new Set(reader.messages.flatMap((m) => (m.type === 'deliver' ? [m.envelope.header.id] : []))).size;

    const order: string[] = [];
    const seen = new Set<string>();
    let toConfirm: string[] = [];
    while (seen.size < SLOW_READER_NOTICES) {
      const d = (await reader.next((m) => m.type === 'deliver', 20_000)) as Deliver;
      const id = d.envelope.header.id;
      if (!seen.has(id)) order.push(id);
      seen.add(id);
      toConfirm.push(id);
      if (toConfirm.length >= 128 || !reader.messages.some((m) => m.type === 'deliver')) {
        reader.send({ type: 'confirm', ids: toConfirm });
        toConfirm = [];
      }
    }
    const drained = relay.rssBytes();
    console.log(
      `resource-bounds slow reader: ${sent.length} notices of ${(filler.length / 1024).toFixed(1)} kB text ` +
        `sent while it did not read; ${inFlight} deliveries in flight — relay RSS ${mb(before)} before, ${mb(stalled)} stalled (+${mb(stalled - before)}), ${mb(drained)} drained`,
    );
    expect(inFlight).toBeLessThanOrEqual(DELIVERY_WINDOW);
    expect(stalled).toBeLessThan(RSS_LIMIT);
    expect(stalled - before).toBeLessThan(100 * 1024 * 1024);
    const inAcceptanceOrder = [...sent].sort((a, b) => (a.receipts[0]?.auditSeq ?? 0) - (b.receipts[0]?.auditSeq ?? 0)).map((r) => r.id);
    expect(order).toEqual(inAcceptanceOrder);
  }, 300_000);

  it('refuses unauthenticated connections beyond its cap, times out those it took, and stays bounded through a flood', async () => {
    const before = relay.rssBytes();
    const opened = await inParallel(FLOOD_SOCKETS, 200, () => openUnauthenticatedSocket(relay.port));
    floodSockets.push(...opened);
    const peak = relay.rssBytes();
    const accepted = opened.filter((s) => s.status === 101);
    const refused = opened.filter((s) => s.status !== 101);
    // Every connection it took gets AUTH_TIMEOUT once the auth timeout runs out.
    const timedOut = await Promise.all(accepted.map((s) => s.receives('AUTH_TIMEOUT', AUTH_TIMEOUT_MS + 10_000)));
    const after = relay.rssBytes();
    console.log(
      `resource-bounds flood: ${FLOOD_SOCKETS} unauthenticated sockets — ${accepted.length} taken, ${refused.length} refused, ` +
        `${timedOut.filter(Boolean).length} timed out — relay RSS ${mb(before)} before, ${mb(peak)} at peak, ${mb(after)} after the timeouts`,
    );
    expect(accepted.length).toBeLessThanOrEqual(MAX_UNAUTHENTICATED);
    expect(refused.length).toBeGreaterThanOrEqual(FLOOD_SOCKETS - MAX_UNAUTHENTICATED);
    expect(refused.every((s) => s.status === 503)).toBe(true);
    expect(timedOut.every(Boolean)).toBe(true);
    expect(peak).toBeLessThan(RSS_LIMIT);
    expect(after).toBeLessThan(RSS_LIMIT);
  }, 120_000);

  // BUG (server): a timed-out unauthenticated session keeps its slot for ws's 30 s close handshake timeout.
  it('frees the slots of timed-out unauthenticated connections at once: a PoC connects right after', async () => {
    try {
      const ws = await openIdleSocket(relay.url, idleIdentities[0] as Identity, 5000);
      idleSockets.push(ws);
    } finally {
      for (const s of floodSockets.splice(0)) s.destroy();
    }
  }, 30_000);
});

describe('confidentiality at rest (after the runs above)', () => {
  it('never writes a notice plaintext to any relay file (db, WAL, shm) or its log, running or stopped', async () => {
    const forms = [CANARY, toB64u(utf8(CANARY))];
    const found = (): string[] => {
      const hits: string[] = [];
      for (const f of relayFiles()) for (const form of forms) if (f.bytes.includes(form)) hits.push(`${f.name}: ${form}`);
      for (const form of forms) if (relay.log().includes(form)) hits.push(`log: ${form}`);
      return hits;
    };
    expect(relayFiles().map((f) => f.name)).toEqual(expect.arrayContaining(['relay.db', 'relay.db-wal', 'relay.key', 'admin.token']));
    expect(found()).toEqual([]);
    for (const ws of idleSockets) ws.terminate();
    senderClient?.close();
    senderClient = null;
    expect(await relay.stop()).toBe(0);
    expect(found()).toEqual([]);
    // Nor does the sender's own history: subjects and texts are sealed at rest under its keystore's history key.
    expect(readFileSync(join(sender.home, 'history.db')).includes(CANARY)).toBe(false);
  }, 30_000);

  it('keeps the PoC keyfile sealed: it does not open without the passphrase and holds no key in the clear', () => {
    expect(() => openKeystore(sender.home, 'not the passphrase')).toThrow(expect.objectContaining({ code: 'WRONG_PASSPHRASE' }));
    expect(() => openKeystore(sender.home, '')).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    const keyfile = readFileSync(join(sender.home, KEYFILE_NAME), 'utf8');
    expect(keyfile).not.toContain(toB64u(sender.keystore.identity.keys.secretKey));
    expect(keyfile).not.toContain(toB64u(sender.keystore.identity.keys.secretKey.subarray(0, 32)));
    expect(openKeystore(sender.home, sender.passphrase).identity.kid).toBe(sender.profile.kid);
  });

  it('keeps secrets private: keyfile, relay.key and admin.token 0600; HOTLINE_HOME and the relay data dir 0700', () => {
    expect(mode(join(sender.home, KEYFILE_NAME)).toString(8)).toBe('600');
    expect(mode(join(dataDir, 'relay.key')).toString(8)).toBe('600');
    expect(mode(join(dataDir, 'admin.token')).toString(8)).toBe('600');
    expect(mode(sender.home).toString(8)).toBe('700');
    expect(mode(dataDir).toString(8)).toBe('700');
    // The relay sets umask 077: its database is for its user only as well.
    for (const f of readdirSync(dataDir)) expect({ file: f, mode: (mode(join(dataDir, f)) & 0o077).toString(8) }).toEqual({ file: f, mode: '0' });
  });
});

describe('relay in process, redelivery to a reader that stopped reading', () => {
  let inProcess: TestRelay | null = null;
  let stalledReader: { cn: RawPeer; delivered: string[] } | null = null;

  afterAll(async () => {
    await inProcess?.dispose();
  });

  // BUG (server): DeliveryHub.sweep sends every overdue in-flight delivery again, to a socket that has not even
  // written out the first copy; for a reader that stays connected but does not read, the relay's send buffer grows by
  // one window every redeliverAfterMs, without bound.
  // BUG (server, flaky under load): an empty ws send buffer was taken to mean the reader had read; while the kernel's
  // socket buffers still took frames (slow submits on a loaded machine), overdue ones were sent again: 257–261 frames.
  it('buffers at most one window of deliveries for a connection that does not read, however long it stalls', async () => {
    inProcess = await startTestRelay({ config: { limits: { redeliverAfterMs: 500 } } });
    // The trust helper keys what it installed by httpUrl: on the stopped process relay's port, this one would be
    // taken as chartered already. Start another while this one holds the port.
    while (inProcess.httpUrl === relay.httpUrl) {
      const taken: TestRelay = inProcess;
      inProcess = await startTestRelay({ config: { limits: { redeliverAfterMs: 500 } } });
      await taken.dispose();
    }
    await adminCall(inProcess, 'POST', '/channels', { a: 'CN', b: 'US' });
    const us = await RawPeer.enrol(inProcess, 'US');
    const cn = await RawPeer.enrol(inProcess, 'CN');
    peers.push(us, cn);
    await chartered(inProcess, 'CN-US', [us, cn]);
    await cn.connect(inProcess.url);
    const socket = pauseReading(cn);
    socket.pause();
    await us.connect(inProcess.url);
    // Frames of ~40 kB: one window (256) is ~10 MB, more than the kernel buffers between the two sockets.
    const text = `${'stalled '.repeat(3750)}`;
    const window = inProcess.context.config.limits.deliveryWindow;
    // 300 sends of 40 kB at once: on a loaded machine some answers take longer than submit's 5 s.
    const submit = (envelope: ReturnType<RawPeer['envelope']>) => {
      const rid = envelope.header.id.slice(-12);
      us.send({ type: 'send', rid, envelope });
      return us.reply<'accepted'>(rid, 60_000);
    };
    const replies = await Promise.all(Array.from({ length: window + 44 }, () => submit(us.envelope([cn], { level: 'ROUTINE' }, text))));
    expect(replies.every((r) => r.type === 'accepted')).toBe(true);
    // Redelivery is on a timer (every redeliverAfterMs, swept every 250 ms): let several rounds come due.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // Everything buffered comes before the pong; a relay that drops a slow consumer instead ends it with a close.
    const closed = new Promise<void>((resolve) => cn.socket.once('close', () => resolve()));
    socket.resume();
    cn.send({ type: 'ping', rid: 'drain' });
    // Counted as the drain marker arrives: what the relay had queued while the reader stalled. Frames behind it were
    // sent once the reader had read again (a redelivery then is correct: see the next test), and may share its read.
    let buffered = -1;
    const drained = (m: RelayMessage): boolean => {
      if (m.type !== 'pong' || m.rid !== 'drain') return false;
      buffered = cn.messages.filter((x) => x.type === 'deliver').length;
      return true;
    };
    await Promise.race([cn.next(drained, 30_000), closed]);
    if (buffered < 0) buffered = cn.messages.filter((m) => m.type === 'deliver').length;
    console.log(`resource-bounds stalled reader (in process, redeliverAfterMs 500): ${buffered} deliver frames were buffered for a window of ${window}`);
    expect(buffered).toBeLessThanOrEqual(window);
    stalledReader = { cn, delivered: cn.messages.flatMap((m) => (m.type === 'deliver' ? [m.envelope.header.id] : [])) };
  }, 60_000);

  it('sends a delivery again once the reader reads but does not confirm it', async () => {
    expect(stalledReader).not.toBeNull();
    const { cn, delivered } = stalledReader as NonNullable<typeof stalledReader>;
    const first = delivered[0] as string;
    const copies = (): number => cn.messages.filter((m) => m.type === 'deliver' && m.envelope.header.id === first).length;
    const before = copies();
    // Nothing was confirmed; the reader reads again: the next sweeps probe it, then send the overdue ones again.
    const again = await cn.next((m) => m.type === 'deliver' && m.envelope.header.id === first && copies() > before, 10_000);
    expect(again.type).toBe('deliver');
  }, 30_000);
});
