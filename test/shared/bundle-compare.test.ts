// compareBundles: two real relays carry the same envelopes of one PoC pair; their exports agree untouched, and each hand edit shows as its difference.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compareBundles,
  comparisonLines,
  initCrypto,
  reviewBundleSchema,
  verifyReviewBundle,
  type BundleEnvelope,
  type ComparisonCode,
  type ReviewBundle,
  type TimingRecord,
} from '../../shared/index.ts';
import { HotlineClient } from '../../client/hotline-client.ts';
import type { MessageRecord } from '../../client/history.ts';
import type { Keystore } from '../../client/keystore.ts';
import type { Profile } from '../../client/profile.ts';
import type { Clock } from '../../server/clock.ts';
import { adminCall, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { hotline } from '../helpers/cli.ts';
import { joinRelays } from '../helpers/poc.ts';
import { resignBundle } from '../helpers/resign.ts';
import { installCharter, installRosters, postTrust } from '../helpers/trust.ts';

/** The charter's time tolerance: compareBundles takes it as its default. */
const TOLERANCE = 1_000;
/** How far the test moves time between phases: well past the tolerance, so scope margins are crossed. */
const STEP = 10_000;

/** Real timers, and a time the test moves forward: the relays and clients all read it, so no test waits for the wall clock. */
class SteppedClock implements Clock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  setTimer(ms: number, fn: () => void): unknown {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  }
  clearTimer(handle: unknown): void {
    clearTimeout(handle as NodeJS.Timeout);
  }
  step(ms: number): void {
    this.offset += ms;
  }
}

interface Party {
  readonly keystore: Keystore;
  readonly profile: Profile;
}

const clock = new SteppedClock();
let root: string;
let relays: [TestRelay, TestRelay];
const clients: HotlineClient[] = [];
/** Ids of the envelopes sent, by name: n = notice, a = ack (each notice also has CN's delivery receipt). */
const ids: Record<string, string> = {};
let since: number;
/** Full exports of relay A and relay B, and relay B's export from `since` on. */
let bundleA: ReviewBundle;
let bundleB: ReviewBundle;
let bundleBSince: ReviewBundle;

const joinBoth = (label: string, state: string): Promise<Party> => joinRelays(root, label, state, relays, clock.now());

/** The same signed charter (with TOLERANCE) and rosters on both relays, as two operators of one channel hold them. */
async function charteredOnBoth(parties: readonly Party[]): Promise<void> {
  const [first, second] = relays;
  const docs: unknown[] = [await installCharter(first, 'US-CN', { timeTolerance: TOLERANCE })];
  const rosters = await installRosters(first, parties.map((p) => ({ kid: p.profile.kid, state: p.profile.state as string, name: p.profile.name, role: 'poc' })));
  docs.push(...rosters.values());
  for (const doc of docs) {
    const kind = (doc as { charter?: unknown }).charter ? 'charters' : 'rosters';
    const r = await postTrust(second, kind, doc);
    if (r.status !== 201) throw new Error(`POST /v1/trust/${kind}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

function client(p: Party): HotlineClient {
  const c = new HotlineClient({ keystore: p.keystore, profile: p.profile, relays: p.profile.relays.map((r) => r.url), reconnect: false, now: () => clock.now() });
  clients.push(c);
  return c;
}

function nextNotice(c: HotlineClient): Promise<MessageRecord> {
  return new Promise((resolve) => c.once('notice', resolve));
}

/** US sends a FLASH notice to both relays; CN decrypts it (its client sends the delivery receipt) and waits for that receipt to be accepted. */
async function noticeDelivered(us: HotlineClient, cn: HotlineClient, text: string): Promise<string> {
  const arrives = nextNotice(cn);
  const sent = await us.send({ toState: 'CN', level: 'FLASH', text });
  expect(sent.receipts).toHaveLength(2);
  expect((await arrives).id).toBe(sent.id);
  await cn.settle();
  return sent.id;
}

async function ack(cn: HotlineClient, id: string): Promise<string> {
  const sent = await cn.ack(id);
  expect(sent.receipts).toHaveLength(2);
  return sent.id;
}

async function exportBundle(relay: TestRelay, query = ''): Promise<ReviewBundle> {
  const { token } = await adminCall<{ token: string }>(relay, 'POST', '/review-tokens', { name: 'Relay operator', ttlMs: 3_600_000 });
  const res = await fetch(`${relay.httpUrl}/v1/review/export${query}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const bundle = reviewBundleSchema.parse(await res.json());
  // What the caller of compareBundles must do first: verify each bundle against its pinned relay key.
  verifyReviewBundle(bundle, { relayKid: relay.identity.kid });
  return bundle;
}

function edited(bundle: ReviewBundle, change: (b: ReviewBundle) => void): ReviewBundle {
  const copy = structuredClone(bundle);
  change(copy);
  return copy;
}

function envelope(bundle: ReviewBundle, name: string): BundleEnvelope {
  const found = bundle.envelopes.find((e) => e.header.id === ids[name]);
  if (!found) throw new Error(`no envelope ${name} in the bundle`);
  return found;
}

function record(bundle: ReviewBundle, name: string): TimingRecord {
  const found = bundle.records.find((r) => r.id === ids[name]);
  if (!found) throw new Error(`no record ${name} in the bundle`);
  return found;
}

function without(bundle: ReviewBundle, name: string): ReviewBundle {
  return edited(bundle, (b) => {
    b.envelopes = b.envelopes.filter((e) => e.header.id !== ids[name]);
  });
}

const codes = (a: ReviewBundle, b: ReviewBundle): { code: ComparisonCode; id: string | null }[] => compareBundles(a, b).differences.map((d) => ({ code: d.code, id: d.id }));
const short = (relay: TestRelay) => relay.identity.kid.slice(0, 8);

beforeAll(async () => {
  await initCrypto();
  root = tempDir('bundle-compare');
  relays = [await startTestRelay({ clock }), await startTestRelay({ clock })];
  for (const r of relays) await adminCall(r, 'POST', '/channels', { a: 'US', b: 'CN' });
  const usParty = await joinBoth('us', 'US');
  const cnParty = await joinBoth('cn', 'CN');
  await charteredOnBoth([usParty, cnParty]);
  const us = client(usParty);
  const cn = client(cnParty);
  await us.connect();
  await cn.connect();

  // Phase 1 (before `since`): n1, its receipt, its ack.
  ids.n1 = await noticeDelivered(us, cn, 'first notice');
  ids.a1 = await ack(cn, ids.n1);
  clock.step(STEP);
  since = clock.now();
  clock.step(STEP);
  // Phase 2: n2 acked, n3 open; one at a time, so CN's receipts reach both relays in its own seq order.
  ids.n2 = await noticeDelivered(us, cn, 'second notice');
  ids.a2 = await ack(cn, ids.n2);
  ids.n3 = await noticeDelivered(us, cn, 'third notice');
  await us.settle();
  clock.step(STEP);

  bundleA = await exportBundle(relays[0]);
  bundleB = await exportBundle(relays[1]);
  bundleBSince = await exportBundle(relays[1], `?since=${since}`);
  writeFileSync(join(root, 'relay-a-honest.json'), JSON.stringify(bundleA));
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of relays) await r.dispose().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe('compareBundles', () => {
  it('finds no difference between two relays that carried the same envelopes, and counts them all as compared', () => {
    expect(bundleA.relay).not.toBe(bundleB.relay);
    expect(bundleA.envelopes).toHaveLength(8);
    const c = compareBundles(bundleA, bundleB);
    expect(c.differences).toEqual([]);
    expect(c.relays).toEqual({ a: relays[0].identity.kid, b: relays[1].identity.kid });
    expect(c.counts).toEqual({ common: 8, onlyInA: 0, onlyInB: 0, comparedInScope: 8, outOfScopeUncompared: 0 });
  });

  it("takes the charters' time tolerance by default, 2 minutes without a charter, and the caller's when given", () => {
    expect(compareBundles(bundleA, bundleB).toleranceMs).toBe(TOLERANCE);
    const bare = (b: ReviewBundle) => edited(b, (x) => (x.trust = { charters: [], rosters: [] }));
    expect(compareBundles(bare(bundleA), bare(bundleB)).toleranceMs).toBe(120_000);
    expect(compareBundles(bundleA, bundleB, { toleranceMs: 5 }).toleranceMs).toBe(5);
  });

  it('refuses to cross-check two bundles of one relay: SAME_RELAY', () => {
    const c = compareBundles(bundleA, structuredClone(bundleA));
    expect(c.differences.map((d) => d.code)).toEqual(['SAME_RELAY']);
    expect(c.differences[0]?.message).toContain(short(relays[0]));
    expect(c.counts.comparedInScope).toBe(0);
  });

  it('reports an envelope removed from one bundle as missing from that one', () => {
    expect(codes(bundleA, without(bundleB, 'a2'))).toEqual([{ code: 'MISSING_IN_B', id: ids.a2 }]);
    expect(codes(without(bundleA, 'n1'), bundleB)).toEqual([{ code: 'MISSING_IN_A', id: ids.n1 }]);
    const c = compareBundles(bundleA, without(bundleB, 'a2'));
    expect(c.counts).toEqual({ common: 7, onlyInA: 1, onlyInB: 0, comparedInScope: 8, outOfScopeUncompared: 0 });
    expect(c.differences[0]?.message).toContain(short(relays[0]));
    expect(c.differences[0]?.message).toContain(short(relays[1]));
  });

  it('reports TIME_DISAGREES when one relay states an acceptance time 10 minutes off, unless the tolerance covers it', () => {
    const shifted = edited(bundleB, (b) => {
      const e = envelope(b, 'n1');
      e.receipt.acceptedAt += 600_000;
      if (e.receipt.ackDeadline !== null) e.receipt.ackDeadline += 600_000;
    });
    const c = compareBundles(bundleA, shifted);
    expect(c.differences.map((d) => ({ code: d.code, id: d.id }))).toEqual([{ code: 'TIME_DISAGREES', id: ids.n1 }]);
    expect(c.differences[0]).toMatchObject({ details: { toleranceMs: TOLERANCE } });
    expect(c.differences[0]?.message).toContain(short(relays[1]));
    expect(compareBundles(bundleA, shifted, { toleranceMs: 11 * 60_000 }).differences).toEqual([]);
  });

  it('reports DEADLINE_DISAGREES when the relays give one notice different acknowledgement spans', () => {
    const later = edited(bundleB, (b) => {
      const e = envelope(b, 'n2');
      e.receipt.ackDeadline = (e.receipt.ackDeadline ?? 0) + 60_000;
    });
    const c = compareBundles(bundleA, later);
    expect(c.differences.map((d) => d.code)).toEqual(['DEADLINE_DISAGREES']);
    const spanA = envelope(bundleA, 'n2').receipt;
    expect(c.differences[0]).toMatchObject({ id: ids.n2, details: { spanA: (spanA.ackDeadline ?? 0) - spanA.acceptedAt } });
  });

  it('reports ORDER_DISAGREES when one relay records two notices of one sender the other way round', () => {
    const swapped = edited(bundleB, (b) => {
      const [x, y] = [envelope(b, 'n2'), envelope(b, 'n3')];
      [x.receipt.auditSeq, y.receipt.auditSeq] = [y.receipt.auditSeq, x.receipt.auditSeq];
    });
    const c = compareBundles(bundleA, swapped);
    expect(c.differences.map((d) => d.code)).toEqual(['ORDER_DISAGREES']);
    expect(c.differences[0]).toMatchObject({ id: ids.n3, details: { ids: [ids.n2, ids.n3] } });
    expect(c.differences[0]?.message).toContain(`relay ${short(relays[0])} recorded them in that order, relay ${short(relays[1])} the other way round`);
  });

  it('reports HASH_DIFFERS when one relay holds an altered header under the same id', () => {
    const altered = edited(bundleB, (b) => {
      envelope(b, 'n1').header.level = 'ROUTINE';
    });
    const c = compareBundles(bundleA, altered);
    expect(c.differences.map((d) => ({ code: d.code, id: d.id }))).toEqual([{ code: 'HASH_DIFFERS', id: ids.n1 }]);
    expect(c.differences[0]).toMatchObject({ details: { parts: ['header'] } });
  });

  it('reports RECORD_DISAGREES when the records of one notice name another ack, or no ack at all', () => {
    const otherAck = edited(bundleB, (b) => {
      Object.assign(record(b, 'n2'), { ackId: ids.a1, met: false });
    });
    expect(compareBundles(bundleA, otherAck).differences).toMatchObject([{ code: 'RECORD_DISAGREES', id: ids.n2, details: { fields: ['ackId', 'met'] } }]);
    const unacked = edited(bundleB, (b) => {
      Object.assign(record(b, 'n2'), { ackedAt: null, ackId: null, ackedBy: null, met: null, lateByMs: null, timeToAckMs: null });
    });
    expect(compareBundles(bundleA, unacked).differences).toMatchObject([{ code: 'RECORD_DISAGREES', id: ids.n2, details: { fields: ['acked', 'ackId'] } }]);
  });

  it("leaves envelopes accepted before the other bundle's since uncompared, yet reports one missing inside it", () => {
    expect(bundleBSince.filter.since).toBe(since);
    const c = compareBundles(bundleA, bundleBSince);
    expect(c.differences).toEqual([]);
    expect(c.counts).toEqual({ common: 5, onlyInA: 3, onlyInB: 0, comparedInScope: 5, outOfScopeUncompared: 3 });
    expect(codes(bundleA, without(bundleBSince, 'a2'))).toEqual([{ code: 'MISSING_IN_B', id: ids.a2 }]);
  });

  it('does not call an envelope missing from a bundle generated before that envelope was accepted', () => {
    const early = edited(bundleB, (b) => {
      b.generatedAt = since;
      b.envelopes = b.envelopes.filter((e) => e.receipt.acceptedAt < since);
      b.records = b.records.filter((r) => r.acceptedAt < since);
    });
    const c = compareBundles(bundleA, early);
    expect(c.differences).toEqual([]);
    expect(c.counts).toMatchObject({ common: 3, onlyInA: 5, outOfScopeUncompared: 5 });
  });
});

describe('comparisonLines', () => {
  it('says the relays agree when nothing differs, and gives one line per difference otherwise', () => {
    const agree = comparisonLines(compareBundles(bundleA, bundleB));
    expect(agree[0]).toContain(`relay ${short(relays[0])} (A) with relay ${short(relays[1])} (B): 8 envelopes in both`);
    expect(agree.at(-1)).toBe('The two relays agree on everything compared.');
    const lines = comparisonLines(compareBundles(bundleA, without(bundleB, 'a2')));
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe('1 difference:');
    expect(lines[2]).toMatch(/^ {2}MISSING_IN_B: envelope /);
    expect(comparisonLines(compareBundles(bundleA, bundleA))).toEqual([expect.stringMatching(/^SAME_RELAY: /)]);
  });
});

/** What an operator holding `relay`'s key does to remove an ack: its events, envelope and record fields, then re-signs it all. */
function withoutAck(bundle: ReviewBundle, relay: TestRelay, ackId: string): ReviewBundle {
  return resignBundle(bundle, relay.identity, (copy) => {
    copy.audit.events = copy.audit.events.filter((e) => e.data.id !== ackId && e.data.ackId !== ackId && e.type !== 'witness');
    copy.envelopes = copy.envelopes.filter((e) => e.header.id !== ackId);
    for (const r of copy.records) {
      if (r.ackId !== ackId) continue;
      Object.assign(r, { ackId: null, ackedAt: null, ackedBy: null, timeToAckMs: null, lateByMs: null, met: copy.generatedAt > r.ackDeadline ? false : null });
      for (const s of r.escalation) s.cancelledAt = null;
    }
  });
}

describe('hotline verify --witness (a history rewritten with the relay key)', () => {
  it("is GOOD without witnesses, BAD against CN's home or its exported witness file, NOT VERIFIABLE with a witness file that is not one", async () => {
    const rewritten = withoutAck(bundleA, relays[0], ids.a1 as string);
    const file = join(root, 'rewritten-a.json');
    writeFileSync(file, JSON.stringify(rewritten));
    const key = ['--relay-key', relays[0].identity.kid];
    expect((await hotline(['verify', file, ...key])).code).toBe(0);
    const home = join(root, 'cn');
    const caught = await hotline(['verify', file, ...key, '--witness', home]);
    expect(caught.code).toBe(1);
    expect(caught.stdout).toMatch(/^BAD [\s\S]*CN PoC .* witnessed another audit event .* rewritten/);
    const exported = join(root, 'cn-witness.json');
    const out = await hotline(['witness', 'export', '--out', exported], { home });
    expect(out.code, out.stderr).toBe(0);
    expect((await hotline(['verify', file, ...key, '--witness', exported])).code).toBe(1);
    expect((await hotline(['verify', join(root, 'relay-a-honest.json'), ...key, '--witness', exported])).code).toBe(0);
    writeFileSync(join(root, 'not-witness.json'), JSON.stringify({ format: 'other' }));
    const junk = await hotline(['verify', file, ...key, '--witness', join(root, 'not-witness.json')]);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(/NOT VERIFIABLE: --witness .*not a hotline-witness-v1 file/);
  });
});

describe('hotline verify A B (two relays as witnesses of each other)', () => {
  const write = (name: string, b: ReviewBundle) => {
    const file = join(root, `${name}.json`);
    writeFileSync(file, JSON.stringify(b));
    return file;
  };
  const keys = () => ['--relay-key', relays[0]!.identity.kid, '--relay-key', relays[1]!.identity.kid];

  it('exits 0 when both bundles verify and agree; 1 when one relay silently lacks an envelope the other has, though each verifies alone', async () => {
    const a = write('relay-a', bundleA);
    const b = write('relay-b', bundleB);
    const agree = await hotline(['verify', a, b, ...keys()]);
    expect(agree.stdout).toMatch(/^GOOD [\s\S]*^GOOD [\s\S]*AGREE: the two relays' bundles[\s\S]*verdict: GOOD/m);
    expect(agree.code).toBe(0);
    // Relay B's operator removes one ack from its history and re-signs everything with B's key.
    const ackId = bundleB.envelopes.find((e) => e.header.kind === 'ack')!.header.id;
    const lacking = withoutAck(bundleB, relays[1]!, ackId);
    const alone = await hotline(['verify', write('relay-b-lacking', lacking), '--relay-key', relays[1]!.identity.kid, '--json']);
    expect(JSON.parse(alone.stdout)).toMatchObject({ status: 'good' });
    const differ = await hotline(['verify', a, write('relay-b-lacking-2', lacking), ...keys()]);
    expect(differ.code).toBe(1);
    expect(differ.stdout).toMatch(/DIFFER: the two relays' bundles[\s\S]*MISSING_IN_B[\s\S]*verdict: BAD/);
    // The same relay twice is no cross-check.
    const same = await hotline(['verify', a, a, ...keys()]);
    expect(same.code).toBe(2);
    expect(same.stdout).toContain('NOT CROSS-CHECKED');
  });
});
