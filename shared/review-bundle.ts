// Offline verification of a reviewer's export bundle: signatures, receipts, the audit chain, and every timing figure recomputed from signed data.
import { verifyAuditChain, type ChainVerification } from './audit.ts';
import { checkEnvelopeRules, digestFromParts, isHybridEnvelope, verifySignedParts } from './envelope-verify.ts';
import { HotlineError } from './errors.ts';
import { verifyReceipt } from './receipt.ts';
import { REVIEW_BUNDLE_FORMAT, reviewBundleSchema, type BundleEnvelope, type ReviewBundle, type TimingRecord } from './review.ts';
import type { AuditEvent } from './schemas.ts';
import { charterParties, verifyCharterChain } from './trust/charter.ts';
import type { CharterBody, RosterBody } from './trust/documents.ts';
import { verifyRosterChain } from './trust/roster.ts';
import { checkDrillRefs, expectedAckDeadline, resolveHeaderTrust, senderStanding, type TrustView } from './trust/standing.ts';
import { fingerprint, sameFingerprint } from './identity.ts';
import {
  checkAuditTimes,
  checkEscalation,
  checkEscalationEventsAccounted,
  checkManifest,
  checkRecordNames,
  checkScope,
  checkSenderChains,
  checkWitnesses,
  envelopeTimeDisputes,
  fail,
  firedSteps,
  same,
  type WitnessCheck,
} from './evidence/bundle-evidence.ts';
import type { DisputedTime } from './evidence/times.ts';
import type { WitnessStatement } from './schemas.ts';
import { DEFAULT_TIME_TOLERANCE_MS } from './trust/charter.ts';

export interface BundleVerification {
  readonly relay: string;
  /** True when the caller pinned the relay key and the bundle matched it. */
  readonly relayPinned: boolean;
  readonly envelopes: number;
  readonly events: number;
  readonly checkpoints: number;
  /** Highest audit seq covered by a signed checkpoint. */
  readonly signedThrough: number;
  readonly lastSeq: number;
  readonly records: number;
  readonly generatedAt: number;
  /** The authority key of each state, from the bundle's charters (fingerprints for out-of-band comparison). */
  readonly authorities: Readonly<Record<string, { kid: string; fingerprint: string; pinned: boolean }>>;
  /** First-wave (v1) envelopes, which name no charter: their signers are checked against no roster. */
  readonly unchartered: number;
  /** True when the bundle carries a relay-signed manifest (and it matched): only then can it be shown complete. */
  readonly manifest: boolean;
  /** Times the signed data contradicts: each makes the bundle's timing unreliable. */
  readonly disputes: readonly DisputedTime[];
  readonly witnesses: WitnessCheck;
  /** How each envelope's content key was wrapped (docs/PROTOCOL.md, "Hybrid key wrapping"). */
  readonly keyWrap: KeyWrapReport;
}

export interface KeyWrapReport {
  /** Envelopes whose every recipient entry is wrapped with X25519 and ML-KEM-768. */
  readonly hybrid: readonly string[];
  /** Envelopes with at least one recipient entry wrapped with X25519 alone. */
  readonly x25519Only: readonly string[];
  /** Of those, the ones whose named charter requires hybrid wrapping: a sender broke the charter (its recipients refused them). */
  readonly againstCharter: readonly string[];
}

/** The bundle's trust documents, each chain verified; `pinned` maps state to an authority fingerprint or kid. */
function bundleTrust(
  bundle: ReviewBundle,
  pinned: Readonly<Record<string, string>>,
): { view: TrustView; authorities: BundleVerification['authorities']; charterTolerances: readonly number[]; members: ReadonlyMap<string, string> } {
  const charters = new Map<string, Map<number, CharterBody>>();
  const rosters = new Map<string, Map<number, RosterBody>>();
  const authorities: Record<string, { kid: string; fingerprint: string; pinned: boolean }> = {};
  const byChannel = new Map<string, unknown[]>();
  for (const c of bundle.trust.charters) {
    const channel = String((c as { charter?: { channel?: unknown } }).charter?.channel);
    byChannel.set(channel, [...(byChannel.get(channel) ?? []), c]);
  }
  for (const [channel, chain] of byChannel) {
    let versions;
    try {
      versions = verifyCharterChain(null, chain);
    } catch (cause) {
      fail(`charter of ${channel}: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
    const first = versions[0];
    if (!first) continue;
    for (const state of charterParties(first.charter)) {
      const kid = first.charter.authorities[state] as string;
      const known = authorities[state];
      if (known && known.kid !== kid) fail(`two charters in the bundle name different authorities for ${state}`);
      const pin = pinned[state];
      if (pin !== undefined && pin !== kid && !sameFingerprint(pin, fingerprint(kid))) {
        fail(`the charter of ${channel} names ${state}'s authority ${fingerprint(kid)}, not the one pinned (${pin})`);
      }
      authorities[state] = { kid, fingerprint: fingerprint(kid), pinned: pin !== undefined };
    }
    charters.set(channel, new Map(versions.map((v) => [v.charter.version, v.charter])));
  }
  for (const state of Object.keys(pinned)) if (!authorities[state]) fail(`no charter in the bundle names an authority for ${state}`);
  const byState = new Map<string, unknown[]>();
  for (const r of bundle.trust.rosters) {
    const state = String((r as { roster?: { state?: unknown } }).roster?.state);
    byState.set(state, [...(byState.get(state) ?? []), r]);
  }
  for (const [state, chain] of byState) {
    const authority = authorities[state];
    if (!authority) fail(`roster of ${state}: no charter in the bundle names its authority`);
    try {
      rosters.set(state, new Map(verifyRosterChain(null, chain, authority.kid).map((v) => [v.roster.version, v.roster])));
    } catch (cause) {
      fail(`roster of ${state}: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
  }
  return {
    view: {
      charter: (channel, version) => charters.get(channel)?.get(version) ?? null,
      roster: (state, version) => rosters.get(state)?.get(version) ?? null,
    },
    authorities,
    charterTolerances: [...charters.values()].flatMap((versions) => [...versions.values()].map((c) => c.timeTolerance)),
    // Every key any verified roster version lists as a PoC or alternate, with its state: who counts as a witness.
    members: new Map(
      [...rosters.entries()].flatMap(([state, versions]) => [...versions.values()].flatMap((r) => r.members.filter((m) => m.role !== 'reviewer').map((m) => [m.kid, state] as const))),
    ),
  };
}

/**
 * Signers, deadlines and drill references of v2 envelopes against the charter and rosters they name: the signer must
 * stand in its state's roster (or be a charter director, drill only), the relay's stated deadline must be the
 * charter's, and no drill envelope may refer to a real one or the reverse.
 */
function checkEnvelopeTrust(e: BundleEnvelope, view: TrustView, byId: ReadonlyMap<string, BundleEnvelope>): CharterBody {
  const h = e.header;
  let charter: CharterBody;
  try {
    const trust = resolveHeaderTrust(view, h);
    senderStanding(trust, h);
    charter = trust.charter;
    for (const ref of h.refs) {
      const target = byId.get(ref);
      if (target) checkDrillRefs(h, target.header);
    }
  } catch (cause) {
    fail(`envelope ${h.id}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  const expected = expectedAckDeadline(charter, h, e.receipt.acceptedAt);
  if (e.receipt.ackDeadline !== expected) {
    fail(`envelope ${h.id}: the relay stated the acknowledgement deadline ${String(e.receipt.ackDeadline)}; the charter gives ${String(expected)}`);
  }
  return charter;
}

/** Parses a bundle from outside; throws BAD_SCHEMA naming the first problem. */
export function parseReviewBundle(value: unknown): ReviewBundle {
  if (typeof value === 'object' && value !== null && 'format' in value && value.format !== REVIEW_BUNDLE_FORMAT) {
    throw new HotlineError('BAD_SCHEMA', `not a Hotline review bundle (format ${String(value.format)}; expected ${REVIEW_BUNDLE_FORMAT})`);
  }
  const parsed = reviewBundleSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HotlineError('BAD_SCHEMA', `bundle is malformed at ${issue ? `${issue.path.join('.') || 'top level'}: ${issue.message}` : 'top level'}`);
  }
  return parsed.data;
}

function checkEnvelope(e: BundleEnvelope, relay: string, events: ReadonlyMap<number, AuditEvent>): void {
  const id = e.header.id;
  try {
    checkEnvelopeRules(e.header, e.recipients);
    verifySignedParts(e.header, e.recipients, e.bodyHash, e.sig);
  } catch (cause) {
    fail(`envelope ${id}: sender signature does not verify (${cause instanceof Error ? cause.message : String(cause)})`);
  }
  try {
    verifyReceipt(e.receipt, relay);
  } catch {
    fail(`envelope ${id}: relay receipt signature does not verify`);
  }
  if (e.receipt.id !== id) fail(`envelope ${id}: its receipt names another envelope (${e.receipt.id})`);
  const hash = digestFromParts(e.header, e.recipients, e.bodyHash, e.sig);
  if (e.receipt.hash !== hash) fail(`envelope ${id}: receipt hash does not match the envelope`);
  const event = events.get(e.receipt.auditSeq);
  if (!event) fail(`envelope ${id}: audit event ${e.receipt.auditSeq} named by its receipt is not in the bundle`);
  if (event.type !== `envelope.${e.header.kind}` || event.data.id !== id || event.data.hash !== hash) {
    fail(`envelope ${id}: audit event ${event.seq} does not record this envelope (it names ${String(event.data.id)})`);
  }
  if (e.receipt.auditHash !== undefined && e.receipt.auditHash !== event.hash) fail(`envelope ${id}: its receipt names another audit head than event ${event.seq}`);
  if (e.header.v === 3 && e.receipt.auditHash === undefined) fail(`envelope ${id}: its receipt names no audit head`);
  if (event.at !== e.receipt.acceptedAt || (event.data.ackDeadline ?? null) !== e.receipt.ackDeadline) {
    fail(`envelope ${id}: audit event ${event.seq} disagrees with the receipt on acceptance time or deadline`);
  }
}

/** The signed facts of one thread, as found among the bundle's envelopes. */
interface Thread {
  readonly notice: BundleEnvelope;
  readonly raises: BundleEnvelope[];
  readonly firstAck: BundleEnvelope | null;
  /** Every ack from the recipient side, in audit order (a raise after an ack reopens the thread; the next ack closes it). */
  readonly acks: BundleEnvelope[];
  readonly receipts: BundleEnvelope[];
}

/** Envelopes referencing each id (by their first ref), in audit order. */
type Referrers = ReadonlyMap<string, readonly BundleEnvelope[]>;

function threadOf(notice: BundleEnvelope, referrers: Referrers): Thread {
  const raises: BundleEnvelope[] = [];
  const answers: BundleEnvelope[] = [];
  const queue = [notice.header.id];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    for (const e of referrers.get(id) ?? []) {
      if (e.header.kind === 'raise' && e.header.fromState === notice.header.fromState) {
        raises.push(e);
        queue.push(e.header.id);
      } else answers.push(e);
    }
  }
  const bySeq = (a: BundleEnvelope, b: BundleEnvelope) => a.receipt.auditSeq - b.receipt.auditSeq;
  raises.sort(bySeq);
  answers.sort(bySeq);
  const fromRecipient = answers.filter((e) => e.header.fromState === notice.header.toState);
  return {
    notice,
    raises,
    firstAck: fromRecipient.find((e) => e.header.kind === 'ack') ?? null,
    acks: fromRecipient.filter((e) => e.header.kind === 'ack'),
    receipts: fromRecipient.filter((e) => e.header.kind === 'receipt' && e.header.refs[0] === notice.header.id),
  };
}

interface RecordContext {
  readonly byId: ReadonlyMap<string, BundleEnvelope>;
  readonly referrers: Referrers;
  readonly view: TrustView;
  readonly fired: ReadonlyMap<string, AuditEvent>;
  readonly generatedAt: number;
}

function checkRecord(r: TimingRecord, c: RecordContext): DisputedTime[] {
  const { byId, referrers, generatedAt } = c;
  const where = `timing record ${r.id}`;
  const notice = byId.get(r.id);
  if (!notice || notice.header.kind !== 'notice') fail(`${where}: the notice is not among the bundle's signed envelopes`);
  const h = notice.header;
  const mismatch = (field: string, shown: unknown, signed: unknown): never =>
    fail(`${where}: ${field} ${JSON.stringify(shown)} does not match the signed data (${JSON.stringify(signed)})`);
  if (r.channel !== h.channel) mismatch('channel', r.channel, h.channel);
  if (r.fromState !== h.fromState) mismatch('fromState', r.fromState, h.fromState);
  if (r.toState !== h.toState) mismatch('toState', r.toState, h.toState);
  if (r.level !== h.level) mismatch('level', r.level, h.level);
  if (!same(r.drill, h.drill)) mismatch('drill', r.drill, h.drill);
  if (r.from !== h.from) mismatch('from', r.from, h.from);
  if (r.sentAt !== h.createdAt) mismatch('sentAt', r.sentAt, h.createdAt);
  if (r.acceptedAt !== notice.receipt.acceptedAt) mismatch('acceptedAt', r.acceptedAt, notice.receipt.acceptedAt);
  if (r.clockSkewMs !== notice.receipt.acceptedAt - h.createdAt) mismatch('clockSkewMs', r.clockSkewMs, notice.receipt.acceptedAt - h.createdAt);

  const t = threadOf(notice, referrers);
  const raises = t.raises.map((e) => ({ id: e.header.id, level: e.header.level, acceptedAt: e.receipt.acceptedAt, ackDeadline: e.receipt.ackDeadline }));
  if (!same(r.raises, raises)) mismatch('raises', r.raises, raises);

  const deliveredAt = t.receipts.length ? Math.min(...t.receipts.map((e) => e.receipt.acceptedAt)) : null;
  const deliveredTo = new Set(t.receipts.map((e) => e.header.from)).size;
  if (r.deliveredAt !== deliveredAt) mismatch('deliveredAt', r.deliveredAt, deliveredAt);
  if (r.deliveredTo !== deliveredTo) mismatch('deliveredTo', r.deliveredTo, deliveredTo);

  const ack = t.firstAck;
  const ackSeq = ack?.receipt.auditSeq ?? Infinity;
  // The relay judges the first ack against the latest deadline of the thread accepted before it.
  const judged = [notice, ...t.raises].filter((e) => e.receipt.auditSeq < ackSeq).pop() ?? notice;
  const deadline = judged.receipt.ackDeadline;
  if (deadline === null) fail(`${where}: the notice's receipt carries no acknowledgement deadline`);
  if (r.ackDeadline !== deadline) mismatch('ackDeadline', r.ackDeadline, deadline);
  if ((r.ackId ?? null) !== (ack?.header.id ?? null)) mismatch('ackId', r.ackId, ack?.header.id ?? null);
  if (ack) {
    const ackedAt = ack.receipt.acceptedAt;
    if (r.ackedAt !== ackedAt) mismatch('ackedAt', r.ackedAt, ackedAt);
    if (r.ackedBy?.kid !== ack.header.from) mismatch('ackedBy', r.ackedBy?.kid ?? null, ack.header.from);
    if (r.timeToAckMs !== ackedAt - r.acceptedAt) mismatch('timeToAckMs', r.timeToAckMs, ackedAt - notice.receipt.acceptedAt);
    if (r.met !== ackedAt <= deadline) mismatch('met', r.met, ackedAt <= deadline);
    if (r.lateByMs !== Math.max(0, ackedAt - deadline)) mismatch('lateByMs', r.lateByMs, Math.max(0, ackedAt - deadline));
  } else {
    if (r.ackedAt !== null || r.ackedBy !== null) mismatch('ackedAt', r.ackedAt, null);
    if (r.timeToAckMs !== null) mismatch('timeToAckMs', r.timeToAckMs, null);
    if (r.lateByMs !== null) mismatch('lateByMs', r.lateByMs, null);
    const due = generatedAt > deadline;
    if (r.met !== (due ? false : null)) mismatch('met', r.met, due ? false : null);
  }

  checkRecordNames(r, notice, ack, c.view);
  return checkEscalation({ record: r, deadlines: [notice, ...t.raises], acks: t.acks, generatedAt }, c.view, c.fired);
}

/**
 * Verifies a bundle using nothing but its own content (and `relayKid` when the caller pins the relay key):
 * the audit chain and checkpoints, every envelope signature, every relay receipt (signature, hash, audit event), and
 * every timing figure of the records section recomputed from the signed receipts. Throws HotlineError
 * (BAD_SCHEMA or BAD_SIGNATURE) naming the first failure.
 */
export interface VerifyOptions {
  /** The relay key the caller trusts (from --relay-key or a PoC's profile); without it a bundle is never "good". */
  readonly relayKid?: string;
  /** State → authority fingerprint or key the caller pinned. */
  readonly authorities?: Readonly<Record<string, string>>;
  /** Witness statements a PoC kept (hotline witness export). */
  readonly witnesses?: readonly WitnessStatement[];
}

export function verifyReviewBundle(input: unknown, options: VerifyOptions = {}): BundleVerification {
  const bundle = parseReviewBundle(input);
  const trust = bundleTrust(bundle, options.authorities ?? {});
  if (options.relayKid !== undefined && bundle.relay !== options.relayKid) {
    fail(`bundle is from relay ${bundle.relay}, not the pinned relay ${options.relayKid}`);
  }
  const { events, checkpoints } = bundle.audit;
  if (events.length === 0 || events[0]?.seq !== 1) fail('the audit log in the bundle does not start at event 1');
  if (checkpoints.length === 0) fail('the bundle has no signed audit checkpoint');
  let chain: ChainVerification;
  try {
    chain = verifyAuditChain(events, checkpoints, bundle.relay);
  } catch (cause) {
    fail(cause instanceof Error ? cause.message : String(cause));
  }
  // What PoCs witnessed comes first: a chain that contradicts it is false, whatever else agrees with it.
  const tolerance = Math.max(DEFAULT_TIME_TOLERANCE_MS, ...trust.charterTolerances);
  const witnesses = checkWitnesses(bundle, options.witnesses ?? [], tolerance, trust.members);
  checkAuditTimes(events);
  checkManifest(bundle);
  checkScope(bundle);
  const bySeqEvent = new Map(events.map((e) => [e.seq, e]));
  const byId = new Map<string, BundleEnvelope>();
  for (const e of bundle.envelopes) {
    if (byId.has(e.header.id)) fail(`envelope ${e.header.id} appears twice`);
    checkEnvelope(e, bundle.relay, bySeqEvent);
    byId.set(e.header.id, e);
  }
  checkSenderChains(bundle.envelopes);
  let unchartered = 0;
  const keyWrap = { hybrid: [] as string[], x25519Only: [] as string[], againstCharter: [] as string[] };
  for (const e of bundle.envelopes) {
    const charter = e.header.v === 1 ? null : checkEnvelopeTrust(e, trust.view, byId);
    if (charter === null) unchartered++;
    if (isHybridEnvelope(e)) keyWrap.hybrid.push(e.header.id);
    else {
      keyWrap.x25519Only.push(e.header.id);
      if (charter?.hybridWrap === 'required') keyWrap.againstCharter.push(e.header.id);
    }
  }
  const referrers = new Map<string, BundleEnvelope[]>();
  for (const e of bundle.envelopes) {
    const ref = e.header.refs[0];
    if (ref === undefined) continue;
    const list = referrers.get(ref);
    if (list) list.push(e);
    else referrers.set(ref, [e]);
  }
  const fired = firedSteps(events);
  const disputes = envelopeTimeDisputes(bundle.envelopes, trust.view);
  const context: RecordContext = { byId, referrers, view: trust.view, fired, generatedAt: bundle.generatedAt };
  for (const r of bundle.records) disputes.push(...checkRecord(r, context));
  const threadIds = new Set(bundle.records.flatMap((r) => [r.id, ...r.raises.map((x) => x.id)]));
  checkEscalationEventsAccounted(bundle.records, fired, threadIds);

  return {
    relay: bundle.relay,
    relayPinned: options.relayKid !== undefined,
    envelopes: bundle.envelopes.length,
    events: chain.events,
    checkpoints: chain.checkpoints,
    signedThrough: chain.signedThrough,
    lastSeq: chain.lastSeq,
    records: bundle.records.length,
    generatedAt: bundle.generatedAt,
    authorities: trust.authorities,
    unchartered,
    manifest: bundle.manifest !== undefined,
    disputes,
    witnesses,
    keyWrap,
  };
}
