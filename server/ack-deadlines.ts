// Acknowledgement deadlines on the accept path: the thread rules for raises and acks, starting a deadline with its escalation steps, and closing a thread on its first ack.
import {
  ackAuditTypes,
  defaultEscalationPolicy,
  escalationSchedule,
  HotlineError,
  levelRank,
  type EnvelopeHeader,
} from '../shared/index.ts';
import type { AuditLog } from './audit-log.ts';
import type { AckDeadlineRecord, DueEscalationStep, EscalationStepKey, RelayStore } from './store.ts';

/** What a committed envelope changed in the deadline schedule: the scheduler applies it after the commit. */
export interface DeadlineChanges {
  readonly scheduled: readonly DueEscalationStep[];
  readonly cancelled: readonly EscalationStepKey[];
  /** Set when this envelope was the first ack of its thread. */
  readonly ackOutcome: 'met' | 'late' | null;
}

export const noDeadlineChanges: DeadlineChanges = Object.freeze({ scheduled: [], cancelled: [], ackOutcome: null });

/** The deadline an ack or raise refers to, once the thread rules have passed. */
export interface ThreadRef {
  readonly thread: string;
  readonly target: AckDeadlineRecord;
}

/**
 * Read-only thread rules, checked before anything is written (so a refusal stores nothing):
 * a raise comes from the notice's sending state and goes strictly up in level; an ack of a notice or raise
 * comes from the recipient side. Returns the referenced deadline, or null when the envelope touches none.
 */
export function checkThreadRules(store: RelayStore, h: EnvelopeHeader): ThreadRef | null {
  if (h.kind !== 'raise' && h.kind !== 'ack') return null;
  const ref = h.refs[0];
  const target = ref === undefined ? null : store.ackDeadlineById(ref);
  if (h.kind === 'ack') {
    if (!target) return null;
    if (h.fromState !== target.toState) {
      throw new HotlineError(
        'FORBIDDEN',
        `only ${target.toState}, the recipient side of this ${target.id === target.threadId ? 'notice' : 'raise'}, can acknowledge it; ${h.fromState} sent it`,
      );
    }
    return { thread: target.threadId, target };
  }
  if (!target) throw new HotlineError('BAD_ENVELOPE', 'a raise must reference a notice (or an earlier raise of it)');
  if (h.fromState !== target.fromState) {
    throw new HotlineError('FORBIDDEN', `only ${target.fromState}, which sent the notice, can raise its level`);
  }
  const current = store.threadDeadlines(target.threadId).reduce((top, d) => (levelRank(d.level) > levelRank(top) ? d.level : top), target.level);
  if (h.level === null || levelRank(h.level) <= levelRank(current)) {
    throw new HotlineError('BAD_ENVELOPE', `a raise must go above the thread's current level ${current}; ${h.level ?? 'no level'} does not`);
  }
  return { thread: target.threadId, target };
}

export interface StartDeadlineInput {
  readonly envRowid: number;
  readonly header: EnvelopeHeader;
  readonly recipients: readonly string[];
  readonly acceptedAt: number;
  readonly ackDeadline: number;
  /** The thread a raise belongs to; null for a notice, which starts its own. */
  readonly thread: ThreadRef | null;
}

/** Stores a notice's or raise's deadline and its escalation steps; call in the transaction that inserts the envelope. */
export function startAckDeadline(store: RelayStore, input: StartDeadlineInput): DeadlineChanges {
  const h = input.header;
  if (h.level === null) return noDeadlineChanges;
  // The channel was found when the envelope was validated; it cannot be closed since.
  const policy = store.escalationPolicyOf(h.channel) ?? defaultEscalationPolicy;
  const scheduled: DueEscalationStep[] = escalationSchedule(input.acceptedAt, input.ackDeadline - input.acceptedAt, policy).map((s) => ({
    envRowid: input.envRowid,
    step: s.step,
    action: s.action,
    due: s.due,
  }));
  store.insertAckDeadline(
    {
      envRowid: input.envRowid,
      id: h.id,
      threadId: input.thread?.thread ?? h.id,
      channel: h.channel,
      level: h.level,
      fromKid: h.from,
      fromState: h.fromState,
      toState: h.toState,
      drill: h.drill,
      recipients: input.recipients,
      acceptedAt: input.acceptedAt,
      deadline: input.ackDeadline,
    },
    scheduled,
  );
  return { scheduled, cancelled: [], ackOutcome: null };
}

/**
 * Records the first ack of a thread: every open deadline of the thread (notice and raises) is closed with it and
 * every step not yet fired is cancelled, with one audit event, `deadline.met` or `deadline.late` (judged against the
 * thread's most recent deadline). A later ack of an already acknowledged thread changes nothing.
 */
export function recordThreadAck(store: RelayStore, audit: AuditLog, h: EnvelopeHeader, ref: ThreadRef, ackedAt: number): DeadlineChanges {
  const closed = store.closeThreadDeadlines(ref.thread, { id: h.id, kid: h.from, ackedAt });
  const latest = closed[closed.length - 1];
  if (!latest) return noDeadlineChanges;
  const cancelled = store.cancelThreadSteps(ref.thread, ackedAt);
  const notice = store.ackDeadlineById(ref.thread) ?? latest;
  const lateByMs = Math.max(0, ackedAt - latest.deadline);
  const outcome = lateByMs > 0 ? 'late' : 'met';
  audit.append(
    ackAuditTypes[outcome],
    {
      id: ref.thread,
      ackId: h.id,
      ref: ref.target.id,
      channel: latest.channel,
      level: latest.level,
      fromState: latest.fromState,
      toState: latest.toState,
      drill: latest.drill,
      ackedBy: h.from,
      acceptedAt: notice.acceptedAt,
      deadline: latest.deadline,
      ackedAt,
      timeToAckMs: ackedAt - notice.acceptedAt,
      late: outcome === 'late',
      lateByMs,
      deadlines: closed.map((d) => ({ id: d.id, level: d.level, deadline: d.deadline, lateByMs: Math.max(0, ackedAt - d.deadline) })),
      cancelledSteps: cancelled.length,
    },
    ackedAt,
  );
  return { scheduled: [], cancelled, ackOutcome: outcome };
}
