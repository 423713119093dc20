// Acknowledgement deadlines and escalation in the relay: driven by a manual clock, plus one real-time run over real sockets.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  assessBundle,
  type BundleAssessment,
  escalationEventSchema,
  initCrypto,
  verifyAuditChain,
  type AuditEvent,
  type EscalationEvent,
  type RelayMessage,
} from '../../shared/index.ts';
import { ManualClock, passTimeTo } from '../helpers/manual-clock.ts';
import { buildReviewBundle } from '../../server/review-export.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered, installRosters } from '../helpers/trust.ts';

type Accepted = Extract<RelayMessage, { type: 'accepted' }>;

const FLASH = 60_000;
const IMMEDIATE = 120_000;

let clock: ManualClock;
let relay: TestRelay;
let us: RawPeer;
let cn: RawPeer;
let cnAlt: RawPeer;
let peers: RawPeer[];

/** The relay's export of everything so far, as `hotline verify --relay-key` judges it. */
function exported(): BundleAssessment {
  relay.context.acceptContext.audit.checkpointIfDue(true);
  const bundle = buildReviewBundle(relay.store.db, {}, clock.now(), relay.context.acceptContext.audit.manifestSigner);
  return assessBundle(bundle, { relayKid: relay.identity.kid });
}

/** Lets the relay's group commit run and its replies go out (two turns of the event loop; no time passes on the relay clock). */
async function ticks(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the relay clock to `at`, letting each timer's work commit at that timer's time. */
async function passTo(at: number): Promise<void> {
  await passTimeTo(clock, at, ticks);
}

async function passTime(ms: number): Promise<void> {
  await passTo(clock.now() + ms);
}

async function accepted(p: Promise<RelayMessage>): Promise<Accepted> {
  const reply = await p;
  if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
  return reply;
}

async function nextEvent(p: RawPeer, timeoutMs = 3000): Promise<EscalationEvent> {
  const msg = await p.next((m) => m.type === 'event', timeoutMs);
  if (msg.type !== 'event') throw new Error('not an event');
  return escalationEventSchema.parse(msg.event);
}

async function expectNoEvent(p: RawPeer, ms = 150): Promise<void> {
  await expect(p.next((m) => m.type === 'event', ms)).rejects.toThrow(/timed out/);
}

function auditOf(type: string): AuditEvent[] {
  return relay.store.auditEvents(1, 100_000).filter((e) => e.type === type);
}

function escalationAudit(): AuditEvent[] {
  return relay.store.auditEvents(1, 100_000).filter((e) => e.type === 'deadline.overdue' || e.type.startsWith('escalation.'));
}

/** us → [cn, cnAlt], accepted; returns the receipt. */
async function notice(level: 'FLASH' | 'IMMEDIATE' = 'FLASH', to: RawPeer[] = [cn, cnAlt]) {
  const env = us.envelope(to, { level });
  return { env, receipt: (await accepted(us.submit(env))).receipt };
}

beforeEach(async () => {
  await initCrypto();
  // Ahead of the wall clock, so prekeys made "now" by the test peers are already valid on the relay's clock.
  clock = new ManualClock(Date.now() + 60_000);
  relay = await startTestRelay({ clock });
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH, IMMEDIATE } });
  us = await RawPeer.enrol(relay, 'US');
  cn = await RawPeer.enrol(relay, 'CN');
  cnAlt = await RawPeer.enrol(relay, 'CN', 'alternate');
  peers = [us, cn, cnAlt];
  // The charter signs the same deadlines the admin request opened the channel with.
  await chartered(relay, 'CN-US', peers, { deadlines: { FLASH, IMMEDIATE } });
});

afterEach(async () => {
  for (const p of peers) p.close();
  await relay.dispose();
});

describe('deadlines', () => {
  it('stores each notice deadline with its escalation steps at 1.0×, 1.25× and 1.5× of the duration', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env, receipt } = await notice();
    expect(receipt.ackDeadline).toBe(receipt.acceptedAt + FLASH);
    const steps = relay.store.escalationStepsOf(env.header.id);
    expect(steps.map((s) => [s.action, s.due - receipt.acceptedAt])).toEqual([
      ['overdue', 60_000],
      ['page-alternates', 75_000],
      ['notify-sender', 90_000],
    ]);
    expect(steps.every((s) => s.firedAt === null && s.cancelledAt === null)).toBe(true);
    expect(relay.deadlines.nextDue).toBe(receipt.acceptedAt + FLASH);
  });

  it('fires the steps at their due times, in order, each once, with an audit event each', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env, receipt } = await notice();
    await passTo(receipt.acceptedAt + FLASH - 1);
    await ticks();
    expect(escalationAudit()).toEqual([]);
    await passTime(1);
    const overdue = await nextEvent(cn);
    expect(overdue).toMatchObject({ kind: 'overdue', at: receipt.acceptedAt + FLASH, data: { id: env.header.id, action: 'overdue', step: 0 } });
    await passTo(receipt.acceptedAt + 75_000);
    expect(await nextEvent(cnAlt)).toMatchObject({ kind: 'escalation', at: receipt.acceptedAt + 75_000, data: { action: 'page-alternates' } });
    await passTo(receipt.acceptedAt + 200_000);
    expect(await nextEvent(us)).toMatchObject({ kind: 'escalation', at: receipt.acceptedAt + 90_000, data: { action: 'notify-sender' } });
    await ticks();
    const fired = escalationAudit();
    expect(fired.map((e) => [e.type, e.at])).toEqual([
      ['deadline.overdue', receipt.acceptedAt + 60_000],
      ['escalation.page-alternates', receipt.acceptedAt + 75_000],
      ['escalation.notify-sender', receipt.acceptedAt + 90_000],
    ]);
    expect(fired[0]?.data).toMatchObject({
      id: env.header.id,
      channel: 'CN-US',
      level: 'FLASH',
      fromState: 'US',
      toState: 'CN',
      drill: null,
      deadline: receipt.ackDeadline,
      due: receipt.acceptedAt + 60_000,
      firedAt: receipt.acceptedAt + 60_000,
      step: 0,
      notified: [cn.identity.kid],
    });
    const steps = relay.store.escalationStepsOf(env.header.id);
    expect(steps.map((s) => s.firedAt)).toEqual(steps.map((s) => s.due));
    expect(steps.map((s) => s.auditSeq)).toEqual(fired.map((e) => e.seq));
    expect(relay.store.ackDeadlineById(env.header.id)?.overdueAt).toBe(receipt.acceptedAt + FLASH);
    expect(relay.deadlines.nextDue).toBeNull();
    relay.context.acceptContext.audit.checkpointIfDue(true);
    expect(verifyAuditChain(relay.store.auditEvents(1, 100_000), relay.store.checkpoints(), relay.identity.kid).events).toBeGreaterThan(3);
  });

  it('sends each step to its devices only: recipient PoCs, the recipient state’s alternates, the sender', async () => {
    const cnOther = await RawPeer.enrol(relay, 'CN');
    const usAlt = await RawPeer.enrol(relay, 'US', 'alternate');
    peers.push(cnOther, usAlt);
    await installRosters(relay, [cnOther, usAlt]);
    for (const p of peers) await p.connect(relay.url);
    const { receipt } = await notice('FLASH', [cn, cnAlt]);
    await passTo(receipt.acceptedAt + 2 * FLASH);
    expect((await nextEvent(cn)).data.action).toBe('overdue');
    expect((await nextEvent(cnAlt)).data.action).toBe('page-alternates');
    expect((await nextEvent(us)).data.action).toBe('notify-sender');
    for (const p of peers) await expectNoEvent(p, 100);
  });

  it('records an ack before the deadline as met and cancels every step', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env, receipt } = await notice();
    await passTime(30_000);
    const ack = await accepted(cn.submit(cn.envelope([us], { kind: 'ack', level: null, refs: [env.header.id] })));
    expect(ack.receipt.ackDeadline).toBeNull();
    const steps = relay.store.escalationStepsOf(env.header.id);
    expect(steps.map((s) => s.cancelledAt)).toEqual([ack.receipt.acceptedAt, ack.receipt.acceptedAt, ack.receipt.acceptedAt]);
    expect(relay.deadlines.nextDue).toBeNull();
    const [met] = auditOf('deadline.met');
    expect(met?.data).toMatchObject({ id: env.header.id, ackId: ack.receipt.id, late: false, lateByMs: 0, timeToAckMs: 30_000, deadline: receipt.ackDeadline });
    expect(relay.store.ackDeadlineById(env.header.id)).toMatchObject({ ackedAt: ack.receipt.acceptedAt, ackId: ack.receipt.id, lateByMs: 0 });
    await passTime(10 * FLASH);
    for (const p of peers) await expectNoEvent(p, 100);
    expect(escalationAudit()).toEqual([]);
  });

  it('records an ack after the deadline as late by how much, and cancels the steps still to come', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env, receipt } = await notice();
    await passTo(receipt.acceptedAt + 70_000);
    expect((await nextEvent(cn)).kind).toBe('overdue');
    const ack = await accepted(cnAlt.submit(cnAlt.envelope([us], { kind: 'ack', level: null, refs: [env.header.id] })));
    const [late] = auditOf('deadline.late');
    expect(late?.data).toMatchObject({ late: true, lateByMs: 10_000, timeToAckMs: 70_000, ackedBy: cnAlt.identity.kid });
    expect(relay.store.escalationStepsOf(env.header.id).map((s) => [s.firedAt !== null, s.cancelledAt !== null])).toEqual([
      [true, false],
      [false, true],
      [false, true],
    ]);
    await passTime(10 * FLASH);
    for (const p of peers) await expectNoEvent(p, 100);
    expect(relay.store.ackDeadlineById(env.header.id)?.ackedAt).toBe(ack.receipt.acceptedAt);
  });

  it('keeps the first ack: a second one is stored but changes nothing', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env } = await notice();
    await passTime(1000);
    const first = await accepted(cn.submit(cn.envelope([us], { kind: 'ack', level: null, refs: [env.header.id] })));
    await passTime(1000);
    await accepted(cnAlt.submit(cnAlt.envelope([us], { kind: 'ack', level: null, refs: [env.header.id] })));
    expect(auditOf('deadline.met')).toHaveLength(1);
    expect(relay.store.ackDeadlineById(env.header.id)?.ackId).toBe(first.receipt.id);
  });

  it('refuses an ack from the sender side with FORBIDDEN and stores nothing', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env } = await notice();
    const before = relay.store.auditEvents(1, 100_000).length;
    const reply = await us.submit(us.envelope([cn], { kind: 'ack', level: null, refs: [env.header.id] }));
    expect(reply).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    if (reply.type === 'error') expect(reply.message).toMatch(/only CN/);
    expect(relay.store.auditEvents(1, 100_000)).toHaveLength(before);
    expect(relay.store.escalationStepsOf(env.header.id).every((s) => s.cancelledAt === null)).toBe(true);
    expect(relay.store.ackDeadlineById(env.header.id)?.ackedAt).toBeNull();
  });

  it('gives a raise its own, shorter deadline from its acceptance; an ack of the raise closes the whole thread', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env, receipt } = await notice('IMMEDIATE');
    await passTime(10_000);
    const raise = await accepted(us.submit(us.envelope([cn, cnAlt], { kind: 'raise', level: 'FLASH', refs: [env.header.id] })));
    expect(raise.receipt.ackDeadline).toBe(raise.receipt.acceptedAt + FLASH);
    expect(raise.receipt.ackDeadline).toBeLessThan(receipt.ackDeadline ?? 0);
    expect(relay.store.escalationStepsOf(env.header.id)).toHaveLength(3);
    await passTo(raise.receipt.acceptedAt + FLASH);
    const overdue = await nextEvent(cn);
    expect(overdue.data).toMatchObject({ id: raise.receipt.id, thread: env.header.id, level: 'FLASH', deadline: raise.receipt.ackDeadline });
    await passTime(2_000);
    await accepted(cn.submit(cn.envelope([us], { kind: 'ack', level: null, refs: [raise.receipt.id] })));
    const [late] = auditOf('deadline.late');
    expect(late?.data).toMatchObject({ id: env.header.id, ref: raise.receipt.id, level: 'FLASH', lateByMs: 2_000, timeToAckMs: 72_000 });
    expect((late?.data.deadlines as unknown[]).length).toBe(2);
    const open = [...relay.store.escalationStepsOf(env.header.id), ...relay.store.escalationStepsOf(raise.receipt.id)].filter(
      (s) => s.firedAt === null && s.cancelledAt === null,
    );
    expect(open).toEqual([]);
    await passTime(10 * IMMEDIATE);
    for (const p of peers) await expectNoEvent(p, 100);
  });

  it('keeps the original deadline running after a raise until the thread is acknowledged', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env, receipt } = await notice('IMMEDIATE');
    await passTime(10_000);
    const raise = await accepted(us.submit(us.envelope([cn], { kind: 'raise', level: 'FLASH', refs: [env.header.id] })));
    await passTo(receipt.acceptedAt + IMMEDIATE);
    const first = await nextEvent(cn);
    const second = await nextEvent(cn);
    expect([first.data.id, second.data.id]).toEqual([raise.receipt.id, env.header.id]);
  });

  it('reopens an acknowledged thread on a raise: its new deadline runs until the next ack', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env } = await notice('IMMEDIATE');
    await passTime(1_000);
    await accepted(cn.submit(cn.envelope([us], { kind: 'ack', level: null, refs: [env.header.id] })));
    await passTime(1_000);
    const raise = await accepted(us.submit(us.envelope([cn], { kind: 'raise', level: 'FLASH', refs: [env.header.id] })));
    expect(relay.store.escalationStepsOf(raise.receipt.id).filter((s) => s.cancelledAt === null)).toHaveLength(3);
    // The offline verifier agrees with the relay: the raise's steps are open, though the thread was acked before it.
    expect(exported().problems).toEqual([]);
    await passTime(5_000);
    await accepted(cn.submit(cn.envelope([us], { kind: 'ack', level: null, refs: [raise.receipt.id] })));
    expect(auditOf('deadline.met').map((e) => e.data.ref)).toEqual([env.header.id, raise.receipt.id]);
    expect(relay.store.escalationStepsOf(raise.receipt.id).every((s) => s.cancelledAt !== null)).toBe(true);
    // ... and cancelled by the second ack, not the first.
    expect(exported()).toMatchObject({ status: 'good', problems: [] });
  });

  it('refuses a raise that does not go up, or that comes from the recipient side, and stores nothing', async () => {
    for (const p of peers) await p.connect(relay.url);
    const { env } = await notice('IMMEDIATE');
    expect(await us.submit(us.envelope([cn], { kind: 'raise', level: 'IMMEDIATE', refs: [env.header.id] }))).toMatchObject({ code: 'BAD_ENVELOPE' });
    expect(await us.submit(us.envelope([cn], { kind: 'raise', level: 'ROUTINE', refs: [env.header.id] }))).toMatchObject({ code: 'BAD_ENVELOPE' });
    expect(await cn.submit(cn.envelope([us], { kind: 'raise', level: 'FLASH', refs: [env.header.id] }))).toMatchObject({ code: 'FORBIDDEN' });
    const raise = await accepted(us.submit(us.envelope([cn], { kind: 'raise', level: 'FLASH', refs: [env.header.id] })));
    expect(await us.submit(us.envelope([cn], { kind: 'raise', level: 'FLASH', refs: [raise.receipt.id] }))).toMatchObject({ code: 'BAD_ENVELOPE' });
    expect(relay.store.threadDeadlines(env.header.id)).toHaveLength(2);
  });

  it('applies a channel’s own deadlines and escalation policy from the admin request and its charter', async () => {
    const terms = {
      deadlines: { PRIORITY: 10_000 },
      escalation: [
        { action: 'overdue', atPercent: 100 },
        { action: 'notify-sender', atPercent: 200 },
      ],
    } as const;
    const opened = await adminCall<{ deadlines: Record<string, number>; escalation: unknown }>(relay, 'POST', '/channels', { a: 'RU', b: 'US', ...terms });
    expect(opened.deadlines.PRIORITY).toBe(10_000);
    expect(opened.escalation).toEqual([
      { action: 'overdue', atPercent: 100 },
      { action: 'notify-sender', atPercent: 200 },
    ]);
    const ru = await RawPeer.enrol(relay, 'RU');
    const ruAlt = await RawPeer.enrol(relay, 'RU', 'alternate');
    peers.push(ru, ruAlt);
    // Deadlines and escalation are the charter's: both authorities sign the terms the operator opened the channel with.
    await chartered(relay, 'RU-US', [ru, ruAlt], { deadlines: terms.deadlines, escalation: [...terms.escalation] });
    for (const p of [us, ru, ruAlt]) await p.connect(relay.url);
    const env = us.envelope([ru, ruAlt], { level: 'PRIORITY' });
    const { receipt } = await accepted(us.submit(env));
    expect(receipt.ackDeadline).toBe(receipt.acceptedAt + 10_000);
    expect(relay.store.escalationStepsOf(env.header.id).map((s) => [s.action, s.due - receipt.acceptedAt])).toEqual([
      ['overdue', 10_000],
      ['notify-sender', 20_000],
    ]);
    await passTo(receipt.acceptedAt + 30_000);
    expect(await nextEvent(ru)).toMatchObject({ kind: 'overdue', at: receipt.acceptedAt + 10_000 });
    expect(await nextEvent(us)).toMatchObject({ kind: 'escalation', at: receipt.acceptedAt + 20_000, data: { action: 'notify-sender', step: 1 } });
    await expectNoEvent(ruAlt);
  });

  it('refuses an escalation policy that does not start with overdue, repeats a step or goes backwards', async () => {
    const bad = [
      [{ action: 'page-alternates', atPercent: 100 }],
      [
        { action: 'overdue', atPercent: 100 },
        { action: 'overdue', atPercent: 120 },
      ],
      [
        { action: 'overdue', atPercent: 150 },
        { action: 'notify-sender', atPercent: 125 },
      ],
      [{ action: 'overdue', atPercent: 50 }],
      [],
    ];
    for (const escalation of bad) {
      const res = await fetch(`${relay.httpUrl}/v1/admin/channels`, {
        method: 'POST',
        headers: { authorization: `Bearer ${relay.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ a: 'RU', b: 'US', escalation }),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'BAD_SCHEMA' } });
    }
  });

  it('keeps events for an offline device in its outbox and sends them after the welcome when it comes back, once', async () => {
    await us.connect(relay.url);
    await cn.connect(relay.url);
    const { env, receipt } = await notice();
    await passTo(receipt.acceptedAt + 2 * FLASH);
    await nextEvent(us);
    const welcome = await cnAlt.connect(relay.url);
    expect(welcome.type).toBe('welcome');
    const event = await nextEvent(cnAlt);
    expect(event).toMatchObject({ kind: 'escalation', at: receipt.acceptedAt + 75_000, data: { id: env.header.id, action: 'page-alternates' } });
    await ticks();
    cnAlt.close();
    await cnAlt.connect(relay.url);
    await expectNoEvent(cnAlt, 200);
  });

  it('labels escalation events of a drill with its drill mark', async () => {
    for (const p of peers) await p.connect(relay.url);
    const env = us.envelope([cn], { drill: { drillId: 'ex-1', inject: 2 } });
    const { receipt } = await accepted(us.submit(env));
    await passTo(receipt.acceptedAt + FLASH);
    expect((await nextEvent(cn)).data.drill).toEqual({ drillId: 'ex-1', inject: 2 });
  });

  it('recovers open steps after a restart: those due fire at once in due order, the rest on time', async () => {
    await us.connect(relay.url);
    const first = await notice();
    await passTime(5_000);
    const second = await notice();
    us.close();
    await relay.close();
    await passTo(second.receipt.acceptedAt + 80_000);
    relay = await startTestRelay({ clock, dataDir: relay.dataDir });
    await passTime(0);
    await ticks();
    const fired = escalationAudit().map((e) => [e.data.id, e.type, e.data.due, e.at]);
    const now = clock.now();
    expect(fired).toEqual([
      [first.env.header.id, 'deadline.overdue', first.receipt.acceptedAt + 60_000, now],
      [second.env.header.id, 'deadline.overdue', second.receipt.acceptedAt + 60_000, now],
      [first.env.header.id, 'escalation.page-alternates', first.receipt.acceptedAt + 75_000, now],
      [second.env.header.id, 'escalation.page-alternates', second.receipt.acceptedAt + 75_000, now],
    ]);
    await passTo(second.receipt.acceptedAt + 90_000);
    await ticks();
    expect(escalationAudit().map((e) => e.at).slice(4)).toEqual([first.receipt.acceptedAt + 90_000, second.receipt.acceptedAt + 90_000]);
    await us.connect(relay.url);
    const toSender = [await nextEvent(us), await nextEvent(us)];
    expect(toSender.map((e) => e.data.id)).toEqual([first.env.header.id, second.env.header.id]);
  });

  it('holds only a window of steps in memory and still fires every one in due order', async () => {
    await relay.dispose();
    relay = await startTestRelay({ clock, config: { deadlineWindow: 4 } });
    await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH } });
    us = await RawPeer.enrol(relay, 'US');
    cn = await RawPeer.enrol(relay, 'CN');
    cnAlt = await RawPeer.enrol(relay, 'CN', 'alternate');
    peers = [us, cn, cnAlt];
    await chartered(relay, 'CN-US', peers, { deadlines: { FLASH } });
    await us.connect(relay.url);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await notice()).env.header.id);
      await passTime(1_000);
      expect(relay.deadlines.inMemory).toBeLessThanOrEqual(8);
    }
    await passTime(5_000);
    await accepted(cn.connect(relay.url).then(() => cn.submit(cn.envelope([us], { kind: 'ack', level: null, refs: [ids[3] ?? ''] }))));
    await passTime(200_000);
    await ticks();
    const fired = escalationAudit();
    expect(fired).toHaveLength(27);
    const dues = fired.map((e) => e.data.due as number);
    expect(dues).toEqual([...dues].sort((a, b) => a - b));
    expect(new Set(fired.map((e) => `${String(e.data.id)}:${String(e.data.step)}`)).size).toBe(27);
    expect(fired.some((e) => e.data.id === ids[3])).toBe(false);
  });
});

describe('deadlines in real time', () => {
  it('fires all three steps of a 1 s FLASH deadline within about 1.5 s, to the right peers over real sockets', async () => {
    for (const p of peers) p.close();
    await relay.dispose();
    relay = await startTestRelay();
    await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH: 1000 } });
    us = await RawPeer.enrol(relay, 'US');
    cn = await RawPeer.enrol(relay, 'CN');
    cnAlt = await RawPeer.enrol(relay, 'CN', 'alternate');
    peers = [us, cn, cnAlt];
    await chartered(relay, 'CN-US', peers, { deadlines: { FLASH: 1000 } });
    for (const p of peers) await p.connect(relay.url);
    const { receipt } = await notice();
    const [overdue, page, tell] = await Promise.all([nextEvent(cn, 5000), nextEvent(cnAlt, 5000), nextEvent(us, 5000)]);
    const received = Date.now();
    expect([overdue?.data.action, page?.data.action, tell?.data.action]).toEqual(['overdue', 'page-alternates', 'notify-sender']);
    expect(overdue.auditSeq).toBeLessThan(page.auditSeq);
    expect(page.auditSeq).toBeLessThan(tell.auditSeq);
    for (const [event, offset] of [
      [overdue, 1000],
      [page, 1250],
      [tell, 1500],
    ] as const) {
      expect(event.data.due).toBe(receipt.acceptedAt + offset);
      // Generous: two cores shared with other test files.
      expect(event.at - event.data.due).toBeGreaterThanOrEqual(0);
      expect(event.at - event.data.due).toBeLessThan(750);
    }
    expect(received - receipt.acceptedAt).toBeLessThan(3000);
    const metrics = await (await fetch(`${relay.httpUrl}/metrics`, { headers: { authorization: `Bearer ${relay.metricsToken}` } })).text();
    expect(metrics).toMatch(/hotline_deadline_fire_error_seconds_count 3/);
  });
});
