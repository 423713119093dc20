// The accept path: validate an envelope against the roster and channel, then commit it with its audit event and signed receipt.
import {
  CHAIN_GENESIS,
  checkDrillRefs,
  expectedAckDeadline,
  HotlineError,
  senderStanding,
  signReceipt,
  verifyEnvelope,
  watchMembers,
  type ChannelInfo,
  type HeaderTrust,
  type Envelope,
  type EnvelopeDigest,
  type Identity,
  type RelayReceipt,
} from '../shared/index.ts';
import { checkThreadRules, noDeadlineChanges, recordThreadAck, startAckDeadline, type DeadlineChanges } from './ack-deadlines.ts';
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import { isUrgentLevel, type MemberRecord, type RelayStore } from './store.ts';
import type { TrustRegistry } from './trust/trust-registry.ts';

/** What an accepted envelope becomes: the receipt for the sender and the raw frames for recipients. */
export interface AcceptedEnvelope {
  readonly rowid: number;
  readonly receipt: RelayReceipt;
  readonly duplicate: boolean;
  readonly envelopeJson: string;
  readonly receiptJson: string;
  readonly deliverTo: readonly string[];
  readonly envelope: Envelope;
  /** Escalation steps this envelope scheduled (a notice or raise) or cancelled (the first ack of a thread). */
  readonly deadlineChanges: DeadlineChanges;
}

/** Kinds that answer an earlier envelope, which must exist in the same channel. */
const answerKinds = new Set(['ack', 'receipt', 'reply', 'raise']);
/** Kinds addressed to the other state: the sender's own state is not a valid target. */
const crossStateKinds = new Set(['notice', 'reply', 'raise']);

export interface ValidatedEnvelope {
  readonly envelope: Envelope;
  /** JSON.stringify(envelope), when the caller already made it (it is what gets stored and delivered). */
  readonly envelopeJson?: string;
  readonly digest: EnvelopeDigest;
  readonly channel: ChannelInfo;
  /** The charter and rosters in force that the header names (checked in the precheck). */
  readonly trust: HeaderTrust;
}

/** What the cheap checks establish about an envelope before its signature is checked. */
export interface PrecheckedEnvelope {
  readonly channel: ChannelInfo;
  readonly trust: HeaderTrust;
}

/** What the accept checks read: the store, and the trust documents in force. */
export interface AcceptReader {
  readonly store: RelayStore;
  readonly trust: TrustRegistry;
}

/**
 * Checks that need no write and no signature work: sender, channel, charter and rosters in force, the sender's
 * standing (its state's roster, or a charter director for drill envelopes), addressing. Throws a HotlineError with
 * the code to send back; nothing is stored on failure. Cheap, so it runs before the signature is checked (possibly
 * on a worker thread: see verify-pool.ts).
 */
export function precheckEnvelope(reader: AcceptReader, sender: MemberRecord, envelope: Envelope): PrecheckedEnvelope {
  const { store } = reader;
  const h = envelope.header;
  if (h.from !== sender.kid) throw new HotlineError('WRONG_STATE', 'envelope is signed by another key than the one authenticated on this connection');
  if (sender.role === 'reviewer') throw new HotlineError('WRONG_ROLE', 'reviewers cannot send envelopes');
  const channel = store.getChannel(h.channel);
  if (!channel) throw new HotlineError('UNKNOWN_CHANNEL', `no channel ${h.channel} on this relay`);
  const trust = resolveTrust(reader, h);
  const standing = senderStanding(trust, h);
  if (standing.as === 'director') {
    checkDirectorEnvelope(store, sender, h);
  } else {
    // The roster decides; the operator's enrolment must agree with it as well.
    if (!channel.states.includes(sender.state)) throw new HotlineError('NOT_CHANNEL_MEMBER', `${sender.state} is not a party to ${h.channel}`);
    if (h.fromState !== sender.state) throw new HotlineError('WRONG_STATE', `sender belongs to ${sender.state}, envelope claims ${h.fromState}`);
  }
  if (crossStateKinds.has(h.kind) && h.toState === h.fromState) {
    throw new HotlineError('BAD_ENVELOPE', `a ${h.kind} must be addressed to the other state`);
  }
  return { channel, trust };
}

/** After the signature checked out: every recipient must be a PoC or alternate in a party's roster, and not revoked here. */
export function checkRecipients(reader: AcceptReader, pre: PrecheckedEnvelope, envelope: Envelope): void {
  const allowed = new Set(watchMembers(pre.trust, pre.channel.states).map((m) => m.kid));
  for (const r of envelope.recipients) {
    const member = reader.store.getMember(r.kid);
    if (!allowed.has(r.kid)) throw new HotlineError('NOT_IN_ROSTER', `recipient ${r.kid.slice(0, 8)}… is not a PoC or alternate in the rosters of ${envelope.header.channel}`);
    if (!member || member.revokedAt !== null) throw new HotlineError('NOT_CHANNEL_MEMBER', `recipient ${r.kid.slice(0, 8)}… is not an active member of this relay`);
  }
}

/** All checks on the calling thread, signature included: precheck, verifyEnvelope, recipients. */
export function validateEnvelope(reader: AcceptReader, sender: MemberRecord, envelope: Envelope): ValidatedEnvelope {
  const pre = precheckEnvelope(reader, sender, envelope);
  const digest = verifyEnvelope(envelope);
  checkRecipients(reader, pre, envelope);
  return { envelope, digest, ...pre };
}

/**
 * A drill director plays the counterpart state, as an exercise control cell does: it may send notices, replies and
 * raises as either party of the drill's channel, but only drill-marked ones, for a drill it registered and has not ended.
 */
function checkDirectorEnvelope(store: RelayStore, director: MemberRecord, h: Envelope['header']): void {
  if (h.drill === null) throw new HotlineError('WRONG_ROLE', 'a drill director sends drill-marked envelopes only');
  if (!directorKinds.has(h.kind)) throw new HotlineError('WRONG_ROLE', `a drill director does not send a ${h.kind}`);
  const drill = store.getDrill(h.drill.drillId);
  if (!drill) throw new HotlineError('UNKNOWN_ID', `drill ${h.drill.drillId} is not registered: start it first`);
  if (drill.director !== director.kid) throw new HotlineError('FORBIDDEN', 'this drill belongs to another director');
  if (drill.endedAt !== null) throw new HotlineError('FORBIDDEN', `drill ${drill.drillId} has ended`);
  if (drill.channel !== h.channel) throw new HotlineError('NOT_CHANNEL_MEMBER', `drill ${drill.drillId} runs on ${drill.channel}, not ${h.channel}`);
}

const directorKinds = new Set(['notice', 'reply', 'raise']);

export interface AcceptContext extends AcceptReader {
  readonly store: RelayStore;
  readonly audit: AuditLog;
  readonly relay: Identity;
  readonly clock: Clock;
  readonly pendingCap: number;
}

/** The write half of the accept path; runs inside a group-commit savepoint. */
export function commitEnvelope(ctx: AcceptContext, v: ValidatedEnvelope): AcceptedEnvelope {
  const { store } = ctx;
  const h = v.envelope.header;
  // The sender may have been revoked while its envelope was being verified.
  const senderNow = store.getMember(h.from);
  if (!senderNow || senderNow.revokedAt !== null) throw new HotlineError('REVOKED_KEY', 'the sending key was revoked; nothing was stored');
  const existing = store.envelopeById(h.id);
  // A new roster or charter may have come into force while this envelope waited: it must still name those in force.
  if (!existing && !sameTrust(ctx.trust.resolveCurrent(h), v.trust)) throw new HotlineError('TRUST_STALE', 'a new roster or charter came into force; nothing was stored');
  if (existing) {
    if (existing.receipt.hash !== v.digest.hash) throw new HotlineError('REPLAY_ID', `envelope id ${h.id} was already used for another envelope`);
    return {
      rowid: existing.rowid,
      receipt: existing.receipt,
      duplicate: true,
      envelopeJson: JSON.stringify(existing.envelope),
      receiptJson: JSON.stringify(existing.receipt),
      deliverTo: [],
      envelope: existing.envelope,
      deadlineChanges: noDeadlineChanges,
    };
  }
  // A v3 envelope that continues its chain cannot be a replay (its prev names the last one accepted): its seq need not
  // exceed the sender's last one, so that a relay that was down can be given what it missed after newer sends elsewhere.
  checkChainLink(store, h);
  const lastSeq = store.lastSeq(h.from);
  if (h.chanSeq === undefined && h.seq <= lastSeq) throw new HotlineError('SEQ_NOT_INCREASING', `seq ${h.seq} is not above the last accepted ${lastSeq}`);
  for (const [i, ref] of h.refs.entries()) {
    const target = store.envelopeById(ref);
    // An answer's first ref is what it answers: it must be on record. Other refs are context, but never across
    // channels (they would pull one channel's envelopes into another's records) nor across drills.
    if (target && target.envelope.header.channel !== h.channel) throw new HotlineError('UNKNOWN_ID', `referenced envelope ${ref} is not on record in ${h.channel}`);
    if (!target) {
      if (i === 0 && answerKinds.has(h.kind)) throw new HotlineError('UNKNOWN_ID', `referenced envelope ${ref} is not on record in ${h.channel}`);
      continue;
    }
    checkDrillRefs(h, target.envelope.header);
  }
  // Every refusal comes before the first write: a job that throws after appending to the audit chain would leave a gap.
  const thread = checkThreadRules(store, h);
  const deliverTo = v.envelope.recipients.map((r) => r.kid);
  for (const kid of deliverTo) checkQueueRoom(store, ctx.pendingCap, kid, h);
  const acceptedAt = ctx.clock.now();
  // The charter's figure, or the drill's own signed in the header: what every client and the verifier recompute.
  const ackDeadline = expectedAckDeadline(v.trust.charter, h, acceptedAt);
  const event = ctx.audit.append(
    `envelope.${h.kind}`,
    {
      id: h.id,
      hash: v.digest.hash,
      channel: h.channel,
      from: h.from,
      fromState: h.fromState,
      toState: h.toState,
      level: h.level,
      drill: h.drill,
      seq: h.seq,
      createdAt: h.createdAt,
      refs: h.refs,
      ackDeadline,
    },
    acceptedAt,
  );
  const receipt = signReceipt(ctx.relay, { id: h.id, hash: v.digest.hash, acceptedAt, auditSeq: event.seq, ackDeadline, auditHash: event.hash });
  const envelopeJson = v.envelopeJson ?? JSON.stringify(v.envelope);
  const receiptJson = JSON.stringify(receipt);
  const rowid = store.insertEnvelope({
    envelope: v.envelope,
    envelopeJson,
    receiptJson,
    hash: v.digest.hash,
    acceptedAt,
    ackDeadline,
    auditSeq: event.seq,
    deliverTo,
  });
  let deadlineChanges = noDeadlineChanges;
  if (ackDeadline !== null) {
    deadlineChanges = startAckDeadline(store, { envRowid: rowid, header: h, recipients: deliverTo, acceptedAt, ackDeadline, thread });
  } else if (h.kind === 'ack' && thread !== null) {
    deadlineChanges = recordThreadAck(store, ctx.audit, h, thread, acceptedAt);
  }
  return { rowid, receipt, duplicate: false, envelopeJson, receiptJson, deliverTo, envelope: v.envelope, deadlineChanges };
}

/** Senders a recipient is expected to hear from: both states' PoCs and alternates, and a drill director. */
export const EXPECTED_SENDERS = 10;
/** Fewest undelivered envelopes of each class a sender may always leave for a recipient (below the cap). */
export const SENDER_SHARE_FLOOR = 10;

/**
 * A sender's share of one recipient's queue of one class: the cap split between the senders a recipient is expected
 * to hear from, at least SENDER_SHARE_FLOOR, at most the cap (10 000 → 1 000; 50 → 10).
 */
export function senderShare(pendingCap: number): number {
  return Math.min(pendingCap, Math.max(SENDER_SHARE_FLOOR, Math.floor(pendingCap / EXPECTED_SENDERS)));
}

/**
 * Fair queues. Each recipient has two queues of `pendingCap` undelivered envelopes: FLASH and IMMEDIATE, and every
 * other envelope; ROUTINE or PRIORITY traffic, however much, never takes room from a FLASH. In each queue a sender
 * may hold its share (senderShare): a stolen key that floods a recipient fills its own share (SENDER_QUOTA), not the
 * queue, so other senders, and its own urgent notices, still get through. Nothing stored is ever dropped to make room.
 */
function checkQueueRoom(store: RelayStore, pendingCap: number, recipient: string, h: Envelope['header']): void {
  const urgent = isUrgentLevel(h.level);
  const queue = urgent ? 'FLASH and IMMEDIATE' : 'ROUTINE, PRIORITY and unlevelled';
  const { total, fromSender } = store.pendingFrom(recipient, h.from, urgent);
  const who = `recipient ${recipient.slice(0, 8)}…`;
  if (total >= pendingCap) {
    throw new HotlineError('PENDING_CAP', `${who} already holds ${pendingCap} undelivered ${queue} envelopes; nothing was stored`);
  }
  const share = senderShare(pendingCap);
  if (fromSender >= share) {
    throw new HotlineError('SENDER_QUOTA', `${who} has not yet collected ${fromSender} ${queue} envelopes from this key, its share of that queue (${share}); nothing was stored`, {
      detail: { recipient, share, pending: fromSender, queue: urgent ? 'urgent' : 'bulk' },
    });
  }
}

/**
 * A v3 envelope must continue its sender's chain on the channel: the next chanSeq, and prev the hash of the envelope
 * accepted last. A chartered channel carries v3 envelopes only once its sender has started a chain there, so a sender
 * cannot drop back to unchained envelopes. CHAIN_BROKEN carries the head held here, so the client can resend or resync.
 */
function checkChainLink(store: RelayStore, h: Envelope['header']): void {
  const head = store.chainHead(h.from, h.channel);
  const detail = { channel: h.channel, chanSeq: head?.chanSeq ?? 0, hash: head?.hash ?? CHAIN_GENESIS };
  if (h.chanSeq === undefined || h.prev === undefined) {
    if (head !== null) throw new HotlineError('CHAIN_BROKEN', `this sender's envelopes on ${h.channel} are chained (v3) since chanSeq 1; an unchained one is refused`, { detail });
    return;
  }
  const expected = (head?.chanSeq ?? 0) + 1;
  if (h.chanSeq !== expected || h.prev !== detail.hash) {
    throw new HotlineError('CHAIN_BROKEN', `chanSeq ${h.chanSeq} does not continue this sender's chain on ${h.channel}: the relay holds ${expected - 1}; the next is ${expected} with prev ${detail.hash.slice(0, 8)}…`, { detail });
  }
}

/**
 * The documents in force that the header names; for an envelope already on record (an identical resend), the ones it
 * named then, whatever came into force since, so that it gets its original receipt. The store is read only when the
 * documents in force do not match: never on the common path.
 */
function resolveTrust(reader: AcceptReader, h: Envelope['header']): HeaderTrust {
  try {
    return reader.trust.resolveCurrent(h);
  } catch (cause) {
    if (cause instanceof HotlineError && cause.code === 'TRUST_STALE' && reader.store.envelopeById(h.id)) {
      return reader.trust.resolveStored(h);
    }
    throw cause;
  }
}

function sameTrust(a: HeaderTrust, b: HeaderTrust): boolean {
  return a.charter.version === b.charter.version && Object.entries(a.rosters).every(([state, roster]) => b.rosters[state]?.version === roster.version);
}
