// Reviewer API: timing records and aggregates against hand-computed figures (manual clock), the export, and every refusal (tokens, roles, bodies).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assessBundle,
  checkResultsPageSchema,
  timingCsvHeader,
  timingCsvRow,
  createIdentity,
  initCrypto,
  signWitness,
  signCheckpoint,
  REVIEW_TOKEN_CTX,
  reviewBundleSchema,
  signStatement,
  timingAggregatesSchema,
  timingRecordsPageSchema,
  verifyReviewBundle,
  type Envelope,
  type EnvelopeHeader,
  type Identity,
  type RelayMessage,
  type RelayReceipt,
  type ReviewBundle,
  type TimingAggregates,
  type TimingRecord,
  type TimingRecordsPage,
  type TimingStats,
} from '../../shared/index.ts';
import { ManualClock, passTimeTo } from '../helpers/manual-clock.ts';
import { resignBundle } from '../helpers/resign.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered, installRosters } from '../helpers/trust.ts';

const FLASH = 60_000;
const IMMEDIATE = 120_000;
const PRIORITY = 4 * 3600_000;
const SKEW = 250;

let clock: ManualClock;
let relay: TestRelay;
let us: RawPeer;
let cn: RawPeer;
let cn2: RawPeer;
let reviewer: RawPeer;
let t0: number;
let token: string;
const ids: Record<string, string> = {};
const bodies: string[] = [];

async function ticks(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function at(offset: number): Promise<void> {
  await passTimeTo(clock, t0 + offset, ticks);
}

async function submit(peer: RawPeer, to: RawPeer[], header: Partial<Omit<EnvelopeHeader, 'v' | 'from'>>): Promise<{ env: Envelope; receipt: RelayReceipt }> {
  const env = peer.envelope(to, { createdAt: clock.now() - SKEW, ...header });
  bodies.push(env.body);
  const reply = await peer.submit(env);
  if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
  await ticks();
  return { env, receipt: reply.receipt };
}

const notice = (from: RawPeer, to: RawPeer[], level: EnvelopeHeader['level'], extra: Partial<EnvelopeHeader> = {}) => submit(from, to, { level, ...extra });
const answer = (from: RawPeer, to: RawPeer, kind: 'ack' | 'receipt', ref: string, drill: EnvelopeHeader['drill'] = null) =>
  submit(from, [to], { kind, level: null, refs: [ref], toState: to.state, drill });

async function http(method: 'GET' | 'POST', path: string, opts: { token?: string; body?: unknown } = {}): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(`${relay.httpUrl}${path}`, {
    method,
    headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), 'content-type': 'application/json' },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown>, text };
}

function tokenRequest(identity: Identity, atMs = clock.now(), signer: Identity = identity) {
  return { kid: identity.kid, at: atMs, sig: signStatement(signer, REVIEW_TOKEN_CTX, { kid: identity.kid, at: atMs, relay: relay.identity.kid }) };
}

async function records(query = ''): Promise<TimingRecordsPage> {
  const r = await http('GET', `/v1/review/records${query}`, { token });
  expect(r.status).toBe(200);
  return timingRecordsPageSchema.parse(r.json);
}

async function aggregates(query = ''): Promise<TimingAggregates> {
  const r = await http('GET', `/v1/review/aggregates${query}`, { token });
  expect(r.status).toBe(200);
  return timingAggregatesSchema.parse(r.json);
}

function record(page: TimingRecordsPage, name: string): TimingRecord {
  const found = page.records.find((r) => r.id === ids[name]);
  if (!found) throw new Error(`no record for ${name}`);
  return found;
}

function group(list: TimingStats[], key: string): TimingStats {
  const found = list.find((s) => s.key === key);
  if (!found) throw new Error(`no group ${key}`);
  return found;
}

beforeAll(async () => {
  await initCrypto();
  clock = new ManualClock(Date.now() + 60_000);
  relay = await startTestRelay({ clock });
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH, IMMEDIATE } });
  us = await RawPeer.enrol(relay, 'US', 'poc', 'US duty officer');
  cn = await RawPeer.enrol(relay, 'CN', 'poc', 'CN duty officer');
  cn2 = await RawPeer.enrol(relay, 'CN', 'poc', 'CN night officer');
  reviewer = await RawPeer.enrol(relay, 'US', 'reviewer', 'Treaty reviewer');
  // The charter signs the deadlines the channel was opened with; the US roster lists the reviewer, which scopes it to CN-US.
  await chartered(
    relay,
    'CN-US',
    [
      { kid: us.identity.kid, state: 'US', name: 'US duty officer', role: 'poc' },
      { kid: cn.identity.kid, state: 'CN', name: 'CN duty officer', role: 'poc' },
      { kid: cn2.identity.kid, state: 'CN', name: 'CN night officer', role: 'poc' },
      { kid: reviewer.identity.kid, state: 'US', name: 'Treaty reviewer', role: 'reviewer' },
    ],
    { deadlines: { FLASH, IMMEDIATE } },
  );
  for (const p of [us, cn, cn2]) expect((await p.connect(relay.url)).type).toBe('welcome');
  t0 = clock.now();

  // A: FLASH, delivered to both CN devices, acked after 20 s (met).
  const a = await notice(us, [cn, cn2], 'FLASH');
  ids.A = a.env.header.id;
  // B: IMMEDIATE, acked 20 s after its 120 s deadline (late; the overdue step fires, the later ones are cancelled).
  await at(1_000);
  await answer(cn, us, 'receipt', ids.A);
  await at(3_000);
  await answer(cn2, us, 'receipt', ids.A);
  await at(5_000);
  ids.B = (await notice(us, [cn, cn2], 'IMMEDIATE')).env.header.id;
  // C: FLASH, never acked (due at 70 s).
  await at(10_000);
  ids.C = (await notice(us, [cn, cn2], 'FLASH')).env.header.id;
  // D: a drill with its own (scaled) deadline in the signed mark, acked after 5 s.
  await at(15_000);
  const drill = { drillId: 'ex-1', inject: 1, ackWithinMs: 120_000 };
  ids.D = (await notice(us, [cn, cn2], 'FLASH', { drill })).env.header.id;
  await at(20_000);
  await answer(cn, us, 'ack', ids.A);
  await answer(cn, us, 'ack', ids.D, drill);
  // E: PRIORITY raised to FLASH after 10 s; acked 25 s after the raise's deadline (judged against the raise).
  await at(30_000);
  ids.E = (await notice(us, [cn, cn2], 'PRIORITY')).env.header.id;
  await at(40_000);
  ids.E_raise = (await submit(us, [cn, cn2], { kind: 'raise', level: 'FLASH', refs: [ids.E as string] })).env.header.id;
  // F: the other direction, CN → US, acked after 2 s.
  await at(50_000);
  ids.F = (await notice(cn, [us], 'FLASH')).env.header.id;
  await at(52_000);
  await answer(us, cn, 'ack', ids.F);
  await at(125_000);
  await answer(cn2, us, 'ack', ids.E_raise);
  await at(145_000);
  await answer(cn, us, 'ack', ids.B);
  // G: PRIORITY, open and not yet due at the end.
  await at(170_000);
  ids.G = (await notice(us, [cn, cn2], 'PRIORITY')).env.header.id;
  await at(200_000);
  const minted = await http('POST', '/v1/review/token', { body: tokenRequest(reviewer.identity) });
  expect(minted.status).toBe(201);
  token = minted.json.token as string;
}, 60_000);

afterAll(async () => {
  for (const p of [us, cn, cn2]) p?.close();
  await relay?.dispose();
});

describe('timing records', () => {
  it('lists every notice newest first with the total, and pages on the server', async () => {
    const page = await records();
    expect(page.total).toBe(7);
    expect(page.now).toBe(t0 + 200_000);
    expect(page.records.map((r) => r.id)).toEqual(['G', 'F', 'E', 'D', 'C', 'B', 'A'].map((k) => ids[k]));
    const second = await records('?limit=2&offset=2');
    expect(second).toMatchObject({ total: 7, limit: 2, offset: 2 });
    expect(second.records.map((r) => r.id)).toEqual([ids.E, ids.D]);
  });

  it('times a notice acknowledged in time: delivered, acked, who acked, met, skew, cancelled steps', async () => {
    const a = record(await records(), 'A');
    expect(a).toMatchObject({
      kind: 'notice',
      channel: 'CN-US',
      fromState: 'US',
      toState: 'CN',
      level: 'FLASH',
      drill: null,
      from: us.identity.kid,
      fromName: 'US duty officer',
      acceptedAt: t0,
      sentAt: t0 - SKEW,
      clockSkewMs: SKEW,
      deliveredAt: t0 + 1_000,
      deliveredTo: 2,
      ackedAt: t0 + 20_000,
      ackedBy: { kid: cn.identity.kid, name: 'CN duty officer' },
      ackDeadline: t0 + FLASH,
      met: true,
      lateByMs: 0,
      timeToAckMs: 20_000,
      raises: [],
    });
    expect(a.escalation.map((s) => [s.action, s.due - t0, s.firedAt, s.cancelledAt])).toEqual([
      ['overdue', 60_000, null, t0 + 20_000],
      ['page-alternates', 75_000, null, t0 + 20_000],
      ['notify-sender', 90_000, null, t0 + 20_000],
    ]);
  });

  it('times a late ack: lateByMs from the deadline, the overdue step fired, later steps cancelled', async () => {
    const b = record(await records(), 'B');
    expect(b).toMatchObject({ level: 'IMMEDIATE', acceptedAt: t0 + 5_000, ackDeadline: t0 + 125_000, ackedAt: t0 + 145_000, met: false, lateByMs: 20_000, timeToAckMs: 140_000, deliveredTo: 0, deliveredAt: null });
    expect(b.escalation.map((s) => [s.action, s.firedAt, s.cancelledAt])).toEqual([
      ['overdue', t0 + 125_000, null],
      ['page-alternates', null, t0 + 145_000],
      ['notify-sender', null, t0 + 145_000],
    ]);
  });

  it('marks an unacknowledged notice past its deadline as missed, and one not yet due as open', async () => {
    const page = await records();
    expect(record(page, 'C')).toMatchObject({ ackedAt: null, ackId: null, ackedBy: null, met: false, lateByMs: null, timeToAckMs: null, ackDeadline: t0 + 70_000 });
    expect(record(page, 'C').escalation.map((s) => s.firedAt)).toEqual([t0 + 70_000, t0 + 85_000, t0 + 100_000]);
    expect(record(page, 'G')).toMatchObject({ level: 'PRIORITY', met: null, ackedAt: null, ackDeadline: t0 + 170_000 + PRIORITY });
  });

  it('judges a raised thread against the raise deadline, as the relay does', async () => {
    const e = record(await records(), 'E');
    expect(e).toMatchObject({ level: 'PRIORITY', acceptedAt: t0 + 30_000, ackedAt: t0 + 125_000, ackedBy: { kid: cn2.identity.kid }, ackDeadline: t0 + 100_000, met: false, lateByMs: 25_000, timeToAckMs: 95_000 });
    expect(e.raises).toEqual([{ id: ids.E_raise, level: 'FLASH', acceptedAt: t0 + 40_000, ackDeadline: t0 + 100_000 }]);
    const audit = relay.store.auditEvents(1, 10_000).find((ev) => ev.type === 'deadline.late' && ev.data.id === ids.E);
    expect(audit?.data).toMatchObject({ lateByMs: e.lateByMs, timeToAckMs: e.timeToAckMs, deadline: e.ackDeadline });
  });

  it('filters by drill, real, level, state, channel and time', async () => {
    const drills = await records('?drill=drill');
    // The mark as signed, its own deadline included: a verifier compares it with the header.
    expect(drills.records.map((r) => [r.id, r.drill])).toEqual([[ids.D, { drillId: 'ex-1', inject: 1, ackWithinMs: 120_000 }]]);
    expect(record(drills, 'D')).toMatchObject({ timeToAckMs: 5_000, met: true });
    expect((await records('?drill=real')).total).toBe(6);
    expect((await records('?drillId=ex-1')).total).toBe(1);
    expect((await records('?level=flash')).records.map((r) => r.id)).toEqual([ids.F, ids.D, ids.C, ids.A]);
    expect((await records('?state=US')).total).toBe(7);
    expect((await records('?channel=CN-US')).total).toBe(7);
    expect((await records(`?since=${t0 + 10_000}&until=${t0 + 50_000}`)).records.map((r) => r.id)).toEqual([ids.E, ids.D, ids.C]);
    expect((await records(`?since=${new Date(t0 + 50_000).toISOString()}`)).records.map((r) => r.id)).toEqual([ids.G, ids.F]);
  });
});

describe('timing aggregates', () => {
  it('computes overall count, median, p95, max and share within deadline', async () => {
    const agg = await aggregates();
    // Acked: F 2 s, D 5 s, A 20 s, E 95 s, B 140 s; C missed; G open.
    expect(agg.overall).toEqual({ key: 'all', count: 7, acked: 5, decided: 6, met: 3, medianMs: 20_000, p95Ms: 131_000, maxMs: 140_000, withinDeadline: 0.5 });
  });

  it('computes figures per level (most urgent first), per recipient state and drill vs real', async () => {
    const agg = await aggregates();
    expect(agg.byLevel.map((s) => s.key)).toEqual(['FLASH', 'IMMEDIATE', 'PRIORITY']);
    expect(group(agg.byLevel, 'FLASH')).toEqual({ key: 'FLASH', count: 4, acked: 3, decided: 4, met: 3, medianMs: 5_000, p95Ms: 18_500, maxMs: 20_000, withinDeadline: 0.75 });
    expect(group(agg.byLevel, 'IMMEDIATE')).toMatchObject({ count: 1, acked: 1, met: 0, medianMs: 140_000, withinDeadline: 0 });
    expect(group(agg.byLevel, 'PRIORITY')).toMatchObject({ count: 2, acked: 1, decided: 1, met: 0, medianMs: 95_000, withinDeadline: 0 });
    expect(group(agg.byState, 'CN')).toMatchObject({ count: 6, acked: 4, decided: 5, met: 2, medianMs: 57_500, withinDeadline: 0.4 });
    expect(group(agg.byState, 'US')).toMatchObject({ count: 1, acked: 1, met: 1, medianMs: 2_000, withinDeadline: 1 });
    expect(group(agg.byDrill, 'drill')).toMatchObject({ count: 1, met: 1, medianMs: 5_000 });
    expect(group(agg.byDrill, 'real')).toMatchObject({ count: 6, acked: 4, decided: 5, met: 2, medianMs: 57_500 });
  });

  it('gives a time series per bucket and level, and honours filters', async () => {
    const agg = await aggregates('?bucket=hour&drill=real');
    expect(agg.series.bucket).toBe('hour');
    const flash = agg.series.points.filter((p) => p.level === 'FLASH');
    expect(flash.reduce((n, p) => n + p.count, 0)).toBe(3);
    expect(agg.overall.count).toBe(6);
    // A reviewer's grant covers CN-US only (see "reviewer scope" below); the operator's token may filter on any channel.
    const operator = await adminCall<{ token: string }>(relay, 'POST', '/review-tokens', { name: 'Relay operator', ttlMs: 3_600_000 });
    const none = await http('GET', '/v1/review/aggregates?channel=CN-RU', { token: operator.token });
    expect(none.status).toBe(200);
    expect(timingAggregatesSchema.parse(none.json).overall).toMatchObject({ count: 0, medianMs: null, withinDeadline: null });
  });

  it('catches up with an ack that arrives after the first report', async () => {
    await answer(cn, us, 'ack', ids.G as string);
    const agg = await aggregates();
    expect(agg.overall).toMatchObject({ count: 7, acked: 6, decided: 7 });
    expect(group(agg.byLevel, 'PRIORITY')).toMatchObject({ acked: 2, met: 1, decided: 2 });
  });
});

describe('review export', () => {
  it('verifies offline, holds no envelope body, and records the notices', async () => {
    const r = await http('GET', '/v1/review/export', { token });
    expect(r.status).toBe(200);
    const bundle = reviewBundleSchema.parse(r.json);
    for (const body of bodies) expect(r.text).not.toContain(body);
    expect(bundle.records).toHaveLength(7);
    expect(bundle.roster.map((m) => m.kid)).toContain(reviewer.identity.kid);
    const summary = verifyReviewBundle(bundle, { relayKid: relay.identity.kid });
    expect(summary).toMatchObject({ relay: relay.identity.kid, relayPinned: true, records: 7, signedThrough: summary.lastSeq });
    expect(summary.envelopes).toBe(bodies.length);
  });
});

describe('offline verification of an export', () => {
  let good: ReviewBundle;
  const flip = (s: string, at = 10) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  const tampered = (change: (b: ReviewBundle) => void): ReviewBundle => {
    const b = structuredClone(good);
    change(b);
    return b;
  };

  beforeAll(async () => {
    good = reviewBundleSchema.parse((await http('GET', '/v1/review/export', { token })).json);
  });

  const cases: [string, (b: ReviewBundle) => void, RegExp][] = [
    ['envelope header', (b) => void (b.envelopes[0]!.header.createdAt += 1), /envelope .*: sender signature does not verify/],
    ['envelope recipients', (b) => void (b.envelopes[0]!.recipients[0]!.wrappedKey = flip(b.envelopes[0]!.recipients[0]!.wrappedKey)), /sender signature does not verify/],
    ['envelope body hash', (b) => void (b.envelopes[2]!.bodyHash = flip(b.envelopes[2]!.bodyHash)), /sender signature does not verify/],
    ['envelope signature', (b) => void (b.envelopes[3]!.sig = flip(b.envelopes[3]!.sig)), /sender signature does not verify/],
    ['receipt time', (b) => void (b.envelopes[1]!.receipt.acceptedAt += 1), /relay receipt signature does not verify/],
    ['receipt signature', (b) => void (b.envelopes[1]!.receipt.sig = flip(b.envelopes[1]!.receipt.sig)), /relay receipt signature does not verify/],
    ['receipt audit seq', (b) => void (b.envelopes[1]!.receipt.auditSeq += 1), /relay receipt signature does not verify/],
    ['audit event data', (b) => void (b.audit.events[4]!.data.level = 'ROUTINE'), /audit event 5 was altered/],
    ['audit event time', (b) => void (b.audit.events[2]!.at += 1), /audit event 3 was altered/],
    ['audit event link', (b) => void (b.audit.events[6]!.prev = flip(b.audit.events[6]!.prev)), /audit event 7 does not link/],
    ['checkpoint head', (b) => void (b.audit.checkpoints[0]!.head = flip(b.audit.checkpoints[0]!.head)), /checkpoint \d+ signature does not verify/],
    ['checkpoint signature', (b) => void (b.audit.checkpoints[0]!.sig = flip(b.audit.checkpoints[0]!.sig)), /checkpoint \d+ signature does not verify/],
    ['a removed audit event', (b) => void b.audit.events.splice(3, 1), /audit event 4 is missing or out of order/],
    ['two swapped audit events', (b) => void b.audit.events.splice(4, 2, b.audit.events[5]!, b.audit.events[4]!), /audit event 5 is missing or out of order \(found 6\)/],
    ['a checkpoint forged with another key', (b) => {
      const cp = b.audit.checkpoints[0]!;
      b.audit.checkpoints[0] = signCheckpoint({ kid: cp.relay, keys: createIdentity().keys }, { seq: cp.seq, hash: cp.head }, cp.at);
    }, /checkpoint \d+ signature does not verify/],
    ['a checkpoint of another relay', (b) => {
      const cp = b.audit.checkpoints[0]!;
      b.audit.checkpoints[0] = signCheckpoint(createIdentity(), { seq: cp.seq, hash: cp.head }, cp.at);
    }, /checkpoint \d+ is signed by another relay/],
    ['no checkpoint at all', (b) => void (b.audit.checkpoints = []), /no signed audit checkpoint/],
    ['an envelope without its audit event', (b) => void b.audit.events.splice(b.audit.events.length - 1, 1, { ...b.audit.events[b.audit.events.length - 1]!, type: 'x' }), /was altered|does not record/],
    ['timing: acceptedAt', (b) => void (b.records[0]!.acceptedAt += 1), /timing record .*: acceptedAt .* does not match the signed data/],
    ['timing: ackedAt', (b) => void (b.records.find((r) => r.id === ids.A)!.ackedAt! += 1000), /timing record .*: ackedAt .* does not match/],
    ['timing: timeToAckMs', (b) => void (b.records.find((r) => r.id === ids.A)!.timeToAckMs! -= 1000), /timing record .*: timeToAckMs .* does not match/],
    ['timing: met', (b) => void (b.records.find((r) => r.id === ids.B)!.met = true), /timing record .*: met true does not match the signed data \(false\)/],
    ['timing: lateByMs', (b) => void (b.records.find((r) => r.id === ids.B)!.lateByMs = 0), /timing record .*: lateByMs 0 does not match the signed data \(20000\)/],
    ['timing: deadline', (b) => void (b.records.find((r) => r.id === ids.E)!.ackDeadline += 60_000), /timing record .*: ackDeadline .* does not match/],
    ['timing: delivery', (b) => void (b.records.find((r) => r.id === ids.A)!.deliveredTo = 3), /timing record .*: deliveredTo 3 does not match/],
    ['timing: an escalation step that never fired', (b) => {
      const s = b.records.find((r) => r.id === ids.A)!.escalation[0]!;
      s.firedAt = s.due;
      s.auditSeq = 1;
    }, /escalation step overdue .* fired at .*audit event 1|escalation step overdue .* shown fired .* no audit event/],
    ['timing: a removed ack', (b) => void (b.envelopes = b.envelopes.filter((e) => e.header.id !== good.records.find((r) => r.id === ids.A)!.ackId)), /envelopes are not the ones its manifest lists|records ack .* but the bundle does not hold it/],
  ];

  it('accepts the untouched bundle', () => {
    expect(verifyReviewBundle(structuredClone(good)).records).toBe(7);
  });

  for (const [label, change, pattern] of cases) {
    it(`detects tampering: ${label}`, () => {
      expect(() => verifyReviewBundle(tampered(change), { relayKid: relay.identity.kid })).toThrow(pattern);
    });
  }

  it('refuses a bundle from another relay than the pinned one, and a malformed one', () => {
    expect(() => verifyReviewBundle(good, { relayKid: createIdentity().kid })).toThrow(/not the pinned relay/);
    expect(() => verifyReviewBundle({ ...good, envelopes: 'x' })).toThrow(/bundle is malformed at envelopes/);
    expect(() => verifyReviewBundle({ ...good, format: 'other' })).toThrow(/not a Hotline review bundle/);
  });
});

describe('reviewer authorisation', () => {
  it('refuses every review route without a token, or with a wrong one', async () => {
    for (const path of ['/v1/review/records', '/v1/review/aggregates', '/v1/review/export', '/v1/review/session']) {
      expect((await http('GET', path)).json).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      const wrong = await http('GET', path, { token: `${token}x` });
      expect(wrong.status).toBe(401);
      expect(wrong.json).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    expect((await http('GET', '/v1/review/records', { token: relay.adminToken })).status).toBe(401);
  });

  it('refuses a reviewer token to a PoC key, a stale or replayed request, and a request signed by another key', async () => {
    const poc = await http('POST', '/v1/review/token', { body: tokenRequest(us.identity) });
    expect(poc.status).toBe(403);
    expect(poc.json).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const stale = await http('POST', '/v1/review/token', { body: tokenRequest(reviewer.identity, clock.now() - 3 * 60_000) });
    expect(stale.json).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const forged = await http('POST', '/v1/review/token', { body: tokenRequest(reviewer.identity, clock.now(), createIdentity()) });
    expect(forged.json).toMatchObject({ error: { code: 'BAD_SIGNATURE' } });
    const stranger = createIdentity();
    expect((await http('POST', '/v1/review/token', { body: tokenRequest(stranger) })).json).toMatchObject({ error: { code: 'UNKNOWN_KEY' } });
    clock.advance(1);
    const once = tokenRequest(reviewer.identity);
    expect((await http('POST', '/v1/review/token', { body: once })).status).toBe(201);
    expect((await http('POST', '/v1/review/token', { body: once })).json).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect((await http('POST', '/v1/review/token', { body: { ...once, extra: 1 } })).json).toMatchObject({ error: { code: 'BAD_SCHEMA' } });
  });

  it('refuses anything that asks for envelope bodies', async () => {
    const body = await http('GET', `/v1/review/envelopes/${ids.A}/body`, { token });
    expect(body.status).toBe(403);
    expect(body.json).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await http('GET', `/v1/review/envelopes/${ids.A}`, { token })).json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    for (const q of ['/v1/review/records?include=body', '/v1/review/export?bodies=1', '/v1/review/aggregates?plaintext=yes', '/v1/review/records?content=1']) {
      const r = await http('GET', q, { token });
      expect(r.status, q).toBe(403);
      expect(r.json).toMatchObject({ error: { code: 'FORBIDDEN' } });
    }
    expect((await http('GET', '/v1/review/records?colour=blue', { token })).json).toMatchObject({ error: { code: 'BAD_SCHEMA' } });
    const page = await http('GET', '/v1/review/records?limit=1000', { token });
    for (const b of bodies) expect(page.text).not.toContain(b);
  });

  it('lets the admin mint a token, and stops a token whose reviewer key is revoked', async () => {
    expect((await http('POST', '/v1/admin/review-tokens', { body: {} })).status).toBe(401);
    const minted = await adminCall<{ token: string; expiresAt: number }>(relay, 'POST', '/review-tokens', { name: 'Audit office', ttlMs: 3_600_000 });
    expect(minted.expiresAt).toBe(clock.now() + 3_600_000);
    expect((await http('GET', '/v1/review/session', { token: minted.token })).json).toMatchObject({ kid: null, name: 'Audit office' });
    const other = await RawPeer.enrol(relay, 'CN', 'reviewer');
    await installRosters(relay, [other]);
    const mine = await http('POST', '/v1/review/token', { body: tokenRequest(other.identity) });
    expect((await http('GET', '/v1/review/records', { token: mine.json.token as string })).status).toBe(200);
    await adminCall(relay, 'POST', '/revoke', { kid: other.identity.kid });
    expect((await http('GET', '/v1/review/records', { token: mine.json.token as string })).status).toBe(401);
  });

  it('keeps reviewers off the WebSocket', async () => {
    const reply = (await reviewer.connect(relay.url)) as RelayMessage;
    expect(reply).toMatchObject({ type: 'error', code: 'WRONG_ROLE' });
    reviewer.close();
  });
});

describe('reviewer scope', () => {
  it('keeps a US reviewer to the channels its roster or a charter lists: it reads CN-US, and CN-RU is FORBIDDEN', async () => {
    // A second channel with traffic of its own: CN-RU, chartered by CN and RU, whose rosters and charter do not list the US reviewer.
    const ru = await RawPeer.enrol(relay, 'RU', 'poc', 'RU duty officer');
    await chartered(relay, 'CN-RU', [{ kid: ru.identity.kid, state: 'RU', name: 'RU duty officer', role: 'poc' }], { deadlines: { FLASH } });
    expect((await ru.connect(relay.url)).type).toBe('welcome');
    try {
      const env = ru.envelope([cn], { toState: 'CN', createdAt: clock.now() - SKEW }, 'CN-RU only');
      expect(env.header.channel).toBe('CN-RU');
      const reply = await ru.submit(env);
      if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
      await ticks();
      // The CN-RU record is there: the operator's token sees it.
      const operator = await adminCall<{ token: string }>(relay, 'POST', '/review-tokens', { name: 'Relay operator', ttlMs: 3_600_000 });
      const seen = await http('GET', '/v1/review/records?channel=CN-RU', { token: operator.token });
      expect(timingRecordsPageSchema.parse(seen.json).records.map((r) => r.id)).toEqual([env.header.id]);

      // The US reviewer asks for CN-RU by name: FORBIDDEN on every route, nothing of it served (the relay before scoping served it).
      for (const path of ['/v1/review/records', '/v1/review/records.csv', '/v1/review/aggregates', '/v1/review/checks', '/v1/review/export']) {
        const r = await http('GET', `${path}?channel=CN-RU`, { token });
        expect(r.status, path).toBe(403);
        expect(r.json).toMatchObject({ error: { code: 'FORBIDDEN' } });
        expect(r.text).not.toContain(env.header.id);
      }

      // The US reviewer reads CN-US, by name or by default (its only channel), and never the CN-RU notice.
      const usCn = await records('?channel=CN-US');
      expect(usCn.total).toBe(7);
      const byDefault = await records();
      expect(byDefault.total).toBe(7);
      // The CSV (the dashboard's download): the same records in the same order, in the CLI's columns, and never CN-RU.
      const csv = await fetch(`${relay.httpUrl}/v1/review/records.csv`, { headers: { authorization: `Bearer ${token}` } });
      expect(csv.status).toBe(200);
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
      const [head, ...lines] = (await csv.text()).trimEnd().split('\n');
      expect(head).toBe(timingCsvHeader);
      expect(lines.map((l) => l.split(',')[0])).toEqual(byDefault.records.map((r) => r.id));
      expect(lines).toEqual(byDefault.records.map(timingCsvRow));
      expect(byDefault.records.every((r) => r.channel === 'CN-US')).toBe(true);
      expect((await aggregates()).overall.count).toBe(7);
      const exported = await http('GET', '/v1/review/export', { token });
      expect(exported.status).toBe(200);
      const bundle = reviewBundleSchema.parse(exported.json);
      expect(bundle.filter.channel).toBe('CN-US');
      expect(bundle.records.map((r) => r.id)).not.toContain(env.header.id);
      expect(bundle.envelopes.map((e) => e.header.id)).not.toContain(env.header.id);
      expect(bundle.trust.charters.map((c) => (c as { charter: { channel: string } }).charter.channel)).toEqual(['CN-US']);
    } finally {
      ru.close();
    }
  });

  it('asks a reviewer listed on several channels to name one, and refuses a reviewer no roster or charter lists', async () => {
    // A CN reviewer on the CN roster covers both CN channels: it must say which.
    const cnReviewer = await RawPeer.enrol(relay, 'CN', 'reviewer', 'CN treaty reviewer');
    await installRosters(relay, [{ kid: cnReviewer.identity.kid, state: 'CN', name: 'CN treaty reviewer', role: 'reviewer' }]);
    clock.advance(1);
    const cnToken = (await http('POST', '/v1/review/token', { body: tokenRequest(cnReviewer.identity) })).json.token as string;
    expect((await http('GET', '/v1/review/records', { token: cnToken })).json).toMatchObject({ error: { code: 'BAD_INPUT' } });
    expect(timingRecordsPageSchema.parse((await http('GET', '/v1/review/records?channel=CN-RU', { token: cnToken })).json).total).toBe(1);
    expect(timingRecordsPageSchema.parse((await http('GET', '/v1/review/records?channel=CN-US', { token: cnToken })).json).total).toBe(7);
    // Enrolled by the operator as a reviewer, but on no roster and in no charter: no channel at all.
    const unlisted = await RawPeer.enrol(relay, 'US', 'reviewer', 'Unlisted reviewer');
    clock.advance(1);
    const unlistedToken = (await http('POST', '/v1/review/token', { body: tokenRequest(unlisted.identity) })).json.token as string;
    for (const query of ['', '?channel=CN-US']) {
      const r = await http('GET', `/v1/review/records${query}`, { token: unlistedToken });
      expect(r.status).toBe(403);
      expect(r.json).toMatchObject({ error: { code: 'FORBIDDEN' } });
    }
  });

  it('shows a reviewer communication checks only as far as its states: a US reviewer on CN-US never sees RU answers, nor a check of RU alone', async () => {
    const ru2 = await RawPeer.enrol(relay, 'RU', 'poc', 'RU night officer');
    const peers = [cn, ru2];
    for (const p of peers) p.close();
    for (const p of peers) expect((await p.connect(relay.url)).type).toBe('welcome');
    try {
      // One check of every state, one of RU alone; CN's and RU's officers acknowledge both they were asked in, US stays silent.
      const everyone = await adminCall<{ checkId: string }>(relay, 'POST', '/checks', { withinMs: 1000 });
      const ruOnly = await adminCall<{ checkId: string }>(relay, 'POST', '/checks', { state: 'RU', withinMs: 1000 });
      const sigs: string[] = [];
      const ack = async (p: RawPeer, checkId: string) => {
        const sig = signStatement(p.identity, 'hotline-check-ack-v1', { checkId, kid: p.identity.kid, relay: relay.identity.kid });
        sigs.push(sig);
        p.send({ type: 'check.ack', rid: `c-${sigs.length}`, checkId, sig });
        await p.next((m) => m.type === 'ok' || m.type === 'error');
      };
      await ack(cn, everyone.checkId);
      await ack(ru2, everyone.checkId);
      await ack(ru2, ruOnly.checkId);
      await passTimeTo(clock, clock.now() + 2000, ticks);

      // The operator sees both checks and every answer.
      const operator = await adminCall<{ token: string }>(relay, 'POST', '/review-tokens', { name: 'Relay operator', ttlMs: 3_600_000 });
      const all = checkResultsPageSchema.parse((await http('GET', '/v1/review/checks', { token: operator.token })).json);
      expect(all.states).toBeNull();
      expect(all.checks.map((c) => c.checkId)).toEqual(expect.arrayContaining([everyone.checkId, ruOnly.checkId]));
      const full = all.checks.find((c) => c.checkId === everyone.checkId)!;
      expect(full.targets.map((t) => t.kid)).toEqual(expect.arrayContaining([ru2.identity.kid, cn.identity.kid, us.identity.kid]));
      expect(full.targets.find((t) => t.kid === ru2.identity.kid)?.outcome).toBe('answered');

      // The US reviewer (CN-US): the check of every state with CN's and US's PoCs only, counted over them; no trace of RU.
      const seen = await http('GET', '/v1/review/checks', { token });
      expect(seen.status).toBe(200);
      const page = checkResultsPageSchema.parse(seen.json);
      expect(page.states).toEqual(['CN', 'US']);
      expect(page.checks.map((c) => c.checkId)).toContain(everyone.checkId);
      expect(page.checks.map((c) => c.checkId)).not.toContain(ruOnly.checkId);
      const mine = page.checks.find((c) => c.checkId === everyone.checkId)!;
      expect(new Set(mine.targets.map((t) => t.kid))).toEqual(new Set([us.identity.kid, cn.identity.kid, cn2.identity.kid]));
      expect(mine).toMatchObject({ asked: 3, answered: 1, missing: 2, open: 0, late: 0 });
      expect(mine.targets.find((t) => t.kid === cn.identity.kid)).toMatchObject({ outcome: 'answered', name: 'CN duty officer' });
      expect(mine.targets.find((t) => t.kid === us.identity.kid)).toMatchObject({ outcome: 'missing', ackedAt: null });
      for (const secret of [ru2.identity.kid, 'RU night officer', 'RU duty officer', ruOnly.checkId, '"RU"', ...sigs]) expect(seen.text).not.toContain(secret);
      // Asking for RU by state or by channel gets nothing of it.
      const byState = await http('GET', '/v1/review/checks?state=RU', { token });
      expect(checkResultsPageSchema.parse(byState.json)).toMatchObject({ total: 0, checks: [], states: [] });
      const byChannel = await http('GET', '/v1/review/checks?channel=CN-RU', { token });
      expect(byChannel.status).toBe(403);
      expect(byChannel.text).not.toContain(ruOnly.checkId);
    } finally {
      ru2.close();
    }
  });
});

describe('evidence: what a hand edit (no key) or a stolen relay key cannot do to an export', () => {
  let good: ReviewBundle;
  const pinned = () => ({ relayKid: relay.identity.kid });
  const edited = (change: (b: ReviewBundle) => void): ReviewBundle => {
    const b = structuredClone(good);
    change(b);
    return b;
  };
  const rec = (b: ReviewBundle, name: string) => b.records.find((r) => r.id === ids[name]) as TimingRecord;
  const dropEnvelope = (b: ReviewBundle, id: string) => void (b.envelopes = b.envelopes.filter((e) => e.header.id !== id));

  beforeAll(async () => {
    good = reviewBundleSchema.parse((await http('GET', '/v1/review/export', { token })).json);
  });

  it('calls the untouched bundle good only with the relay key pinned, and names what it checked', () => {
    const a = assessBundle(structuredClone(good), pinned());
    expect(a.problems).toEqual([]);
    expect(a.status).toBe('good');
    expect(a.checked.join('\n')).toMatch(/relay-signed manifest/);
    const unpinned = assessBundle(structuredClone(good), {});
    expect(unpinned.status).toBe('unverifiable');
    expect(unpinned.missing.join()).toMatch(/not pinned/);
    const noManifest = assessBundle(edited((b) => delete b.manifest), pinned());
    expect(noManifest.status).toBe('unverifiable');
  });

  const noKey: [string, (b: ReviewBundle) => void, RegExp?][] = [
    ['an ack removed with its record fields', (b) => {
      const r = rec(b, 'A');
      dropEnvelope(b, r.ackId as string);
      Object.assign(r, { ackId: null, ackedAt: null, ackedBy: null, timeToAckMs: null, lateByMs: null, met: false });
    }, /manifest lists|records ack .* does not hold it/],
    ['an ack removed, manifest removed too', (b) => {
      delete b.manifest;
      const r = rec(b, 'A');
      dropEnvelope(b, r.ackId as string);
      Object.assign(r, { ackId: null, ackedAt: null, ackedBy: null, timeToAckMs: null, lateByMs: null, met: false });
    }, /records ack .* but the bundle does not hold it/],
    ['a raise removed with its record entry', (b) => {
      delete b.manifest;
      dropEnvelope(b, ids.E_raise as string);
      rec(b, 'E').raises = [];
    }, /records raise .* but the bundle does not hold it/],
    ['an acker renamed', (b) => void (rec(b, 'A').ackedBy!.name = 'CN night officer')],
    ['a sender renamed', (b) => void (rec(b, 'B').fromName = 'US deputy')],
    ['a timing record removed', (b) => {
      delete b.manifest;
      b.records = b.records.filter((r) => r.id !== ids.C);
    }, /notice .* has no timing record/],
    ['a timing record duplicated', (b) => {
      delete b.manifest;
      b.records.push(structuredClone(rec(b, 'C')));
    }, /appears 2 times/],
    ['a notice and its record removed', (b) => {
      delete b.manifest;
      dropEnvelope(b, ids.C as string);
      b.records = b.records.filter((r) => r.id !== ids.C);
    }, /records notice .* but the bundle does not hold it/],
    ['a device receipt removed and the record says undelivered', (b) => {
      delete b.manifest;
      const receipts = b.envelopes.filter((e) => e.header.kind === 'receipt' && e.header.refs[0] === ids.A);
      b.envelopes = b.envelopes.filter((e) => !receipts.includes(e));
      Object.assign(rec(b, 'A'), { deliveredAt: null, deliveredTo: 0 });
    }, /records receipt .* but the bundle does not hold it/],
    ['an escalation step removed', (b) => void rec(b, 'C').escalation.pop(), /missing from the record|lists \d+ escalation steps/],
    ['a fired escalation step marked unfired', (b) => {
      const s = rec(b, 'C').escalation[0]!;
      Object.assign(s, { firedAt: null, auditSeq: null });
    }, /fired at .* the record shows null/],
    ['an escalation step re-timed', (b) => void (rec(b, 'C').escalation[0]!.due += 30_000), /charter's policy gives/],
    ['a fired escalation step marked cancelled', (b) => void (rec(b, 'C').escalation[0]!.cancelledAt = rec(b, 'C').escalation[0]!.firedAt), /calls it cancelled/],
    ['an unfired step of an open notice marked cancelled', (b) => void (rec(b, 'G').escalation[0]!.cancelledAt = clock.now()), /not when an ack closed it/],
    ['the last checkpoint removed', (b) => void b.audit.checkpoints.pop(), /checkpoint .* was removed|checkpoint/],
    ['cut back to an earlier checkpoint', (b) => {
      const cut = b.audit.checkpoints[0]!.seq;
      b.audit.events = b.audit.events.filter((e) => e.seq <= cut);
      b.audit.checkpoints = b.audit.checkpoints.slice(0, 1);
      b.envelopes = b.envelopes.filter((e) => e.receipt.auditSeq <= cut);
      const kept = new Set(b.envelopes.map((e) => e.header.id));
      b.records = b.records.filter((r) => kept.has(r.id));
    }, /manifest signs the audit chain up to event/],
    ['generatedAt moved back, so that an overdue notice looks not yet due', (b) => {
      b.generatedAt = t0;
      rec(b, 'C').met = null;
    }, /made at .*its signed manifest says/],
  ];

  for (const [label, change, pattern] of noKey) {
    it(`refuses, with no key used: ${label}`, () => {
      const a = assessBundle(edited(change), pinned());
      expect(a.status, a.problems.join()).toBe('bad');
      if (pattern) expect(a.problems[0]).toMatch(pattern);
    });
  }

  it('lists an ack the relay re-stamped 10 min late as a disputed time, although it re-signed all it signs', () => {
    const D = 10 * 60_000;
    const ack = good.envelopes.find((e) => e.header.kind === 'ack' && e.header.refs[0] === ids.G)!;
    const retimed = resignBundle(good, relay.identity, (b) => {
      for (const e of b.audit.events) if (e.seq >= ack.receipt.auditSeq) e.at += D;
      const r = rec(b, 'G');
      Object.assign(r, { ackedAt: r.ackedAt! + D, timeToAckMs: r.timeToAckMs! + D });
      for (const s of r.escalation) if (s.cancelledAt !== null) s.cancelledAt += D;
      b.generatedAt += D;
    });
    const a = assessBundle(retimed, pinned());
    expect(a.status).toBe('bad');
    expect(a.problems.join('\n')).toMatch(/disputed time: ack .*: the relay says it accepted it at .*; its signer signed it at .*600 s earlier/);
    expect(a.summary?.disputes.map((d) => d.id)).toEqual([ack.header.id]);
  });

  it('flags a late ack the relay back-dated to look met (B acked 20 s late, stamped 30 s earlier), although it re-signed all it signs', () => {
    const D = 30_000;
    const ack = good.envelopes.find((e) => e.header.kind === 'ack' && e.header.refs[0] === ids.B)!;
    const backdated = resignBundle(good, relay.identity, (b) => {
      for (const e of b.audit.events) if (e.seq >= ack.receipt.auditSeq && e.at >= ack.receipt.acceptedAt && e.at < ack.receipt.acceptedAt + 1000) e.at -= D;
      const r = rec(b, 'B');
      Object.assign(r, { ackedAt: r.ackedAt! - D, timeToAckMs: r.timeToAckMs! - D, met: true, lateByMs: 0 });
    });
    const a = assessBundle(backdated, pinned());
    expect(a.status).toBe('bad');
    // Either its signer's own signed time or the audit order gives it away (here the events around it).
    expect(a.problems[0]).toMatch(/out of audit order|disputed time: ack/);
  });

  it('does not let a witness file turn an honest bundle BAD unless its signer is on a signed roster; later heads make it NOT VERIFIABLE', () => {
    const last = good.audit.events[good.audit.events.length - 1]!;
    // Anyone can sign "I saw another head": a key no roster lists is not compared.
    const stranger = signWitness(createIdentity(), { relay: relay.identity.kid, state: 'US', seq: 3, head: last.hash, at: t0 });
    const a = assessBundle(structuredClone(good), { ...pinned(), witnesses: [stranger] });
    expect(a.status).toBe('good');
    expect(a.summary?.witnesses.unlisted).toBe(1);
    // A PoC that saw the chain go on after the export: the bundle is not wrong, but not the whole story.
    const beyond = signWitness(us.identity, { relay: relay.identity.kid, state: 'US', seq: last.seq + 3, head: last.hash, at: good.generatedAt + 60_000 });
    const later = assessBundle(structuredClone(good), { ...pinned(), witnesses: [beyond] });
    expect(later.status).toBe('unverifiable');
    expect(later.missing.join()).toMatch(/ask the relay for a fresh export/);
  });

  it('refuses a manifest the relay (with its key) dated before the bundle\'s own last event, which would make overdue notices look not yet due', () => {
    const backdated = resignBundle(good, relay.identity, (b) => {
      b.generatedAt = t0 + 100_000;
    });
    const a = assessBundle(backdated, pinned());
    expect(a.status).toBe('bad');
    expect(a.problems[0]).toMatch(/back-dated/);
  });

  it('catches a history the operator rewrote and re-signed with the stolen relay key, given what a PoC witnessed', () => {
    const removed = good.envelopes.find((e) => e.header.kind === 'receipt' && e.header.refs[0] === ids.A && e.header.from === cn2.identity.kid)!;
    const rewritten = resignBundle(good, relay.identity, (b) => {
      b.audit.events = b.audit.events.filter((e) => e.data.id !== removed.header.id);
      dropEnvelope(b, removed.header.id);
      rec(b, 'A').deliveredTo = 1;
    });
    // Everything the relay signs agrees with itself: without witnesses, nothing can tell.
    expect(assessBundle(rewritten, pinned()).status).toBe('good');
    // What the US PoC signed when it got cn2's receipt: the chain head at that event.
    const event = good.audit.events.find((e) => e.seq === removed.receipt.auditSeq)!;
    const statement = signWitness(us.identity, { relay: relay.identity.kid, state: 'US', seq: event.seq, head: event.hash, at: event.at });
    const caught = assessBundle(rewritten, { ...pinned(), witnesses: [statement] });
    expect(caught.status).toBe('bad');
    expect(caught.problems[0]).toMatch(/US PoC .* witnessed another audit event .* rewritten/);
    // The honest bundle agrees with the same statement; a statement beyond a cut-back chain shows the cut.
    expect(assessBundle(structuredClone(good), { ...pinned(), witnesses: [statement] }).status).toBe('good');
    // CN's PoC witnessed its ack of F; the operator cuts the chain back to before it (well before the export).
    const ackF = good.envelopes.find((e) => e.header.kind === 'ack' && e.header.refs[0] === ids.F)!;
    const seen = good.audit.events.find((e) => e.seq === ackF.receipt.auditSeq)!;
    const latest = signWitness(cn.identity, { relay: relay.identity.kid, state: 'CN', seq: seen.seq, head: seen.hash, at: seen.at });
    const cut = resignBundle(good, relay.identity, (b) => {
      b.audit.events = b.audit.events.filter((e) => e.seq < seen.seq);
    });
    expect(assessBundle(cut, { ...pinned(), witnesses: [latest] }).problems[0]).toMatch(/ends at .*cut back/);
  });
});
