// Firing one escalation step: mark it fired, append its audit event and queue the relay event for each target device, all in the caller's transaction.
import {
  escalationAuditType,
  escalationEventKind,
  type EscalationAction,
  type EscalationEventData,
} from '../shared/index.ts';
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import type { EventOutbox } from './event-outbox.ts';
import type { GroupCommit } from './group-commit.ts';
import type { Logger } from './logger.ts';
import type { RelayMetrics } from './metrics.ts';
import type { AckDeadlineRecord, DueEscalationStep, EscalationStepKey, RelayStore } from './store.ts';

/** A relay event queued for one device: `seq` names its outbox row. */
export interface OutboxEvent {
  readonly seq: number;
  readonly kid: string;
  readonly frame: string;
}

/** A step that fired: what the metrics and the outbox need after the commit. */
export interface FiredEscalationStep {
  readonly step: DueEscalationStep;
  readonly firedAt: number;
  readonly auditSeq: number;
  readonly events: readonly OutboxEvent[];
}

/**
 * Devices a step alerts, chosen when it fires (revoked keys are skipped):
 * overdue → the envelope's recipients who are PoCs of the recipient state; page-alternates → every alternate
 * of the recipient state among the envelope's recipients (roster members); notify-sender → the sending device.
 */
export function escalationTargets(store: RelayStore, deadline: AckDeadlineRecord, action: EscalationAction): string[] {
  switch (action) {
    case 'overdue':
      return deadline.recipients.filter((kid) => {
        const m = store.getMember(kid);
        return m !== null && m.revokedAt === null && m.role === 'poc' && m.state === deadline.toState;
      });
    case 'page-alternates':
      // Among the envelope's recipients, who are the rosters' members: an alternate the operator enrolled but no
      // authority listed is never paged.
      return deadline.recipients.filter((kid) => {
        const m = store.getMember(kid);
        return m !== null && m.revokedAt === null && m.role === 'alternate' && m.state === deadline.toState;
      });
    case 'notify-sender': {
      const sender = store.getMember(deadline.fromKid);
      return sender !== null && sender.revokedAt === null ? [sender.kid] : [];
    }
  }
}

/**
 * Fires one due step inside the caller's transaction: the fired flag, the audit event and the outbox rows commit
 * together, so after a crash a step has either fired once with all its events or not at all.
 * Returns null when the step is no longer open (an ack cancelled it, or it already fired).
 */
export function fireEscalationStep(store: RelayStore, audit: AuditLog, step: DueEscalationStep, firedAt: number): FiredEscalationStep | null {
  if (!store.isEscalationStepOpen(step)) return null;
  const deadline = store.ackDeadlineByRowid(step.envRowid);
  if (!deadline) return null;
  const data: EscalationEventData = {
    id: deadline.id,
    thread: deadline.threadId,
    channel: deadline.channel,
    level: deadline.level,
    action: step.action,
    step: step.step,
    fromState: deadline.fromState,
    toState: deadline.toState,
    acceptedAt: deadline.acceptedAt,
    deadline: deadline.deadline,
    due: step.due,
    drill: deadline.drill,
  };
  const targets = escalationTargets(store, deadline, step.action);
  const event = audit.append(escalationAuditType(step.action), { ...data, firedAt, notified: targets }, firedAt);
  store.markEscalationStepFired(step, firedAt, event.seq);
  if (step.action === 'overdue') store.markOverdue(step.envRowid, firedAt);
  const frame = audit.eventFrame(escalationEventKind(step.action), event, data);
  const events = targets.map((kid) => ({ seq: store.addOutboxEvent(kid, event.seq, frame, firedAt), kid, frame }));
  return { step, firedAt, auditSeq: event.seq, events };
}

export interface EscalationFiringDeps {
  readonly store: RelayStore;
  readonly audit: AuditLog;
  readonly commits: GroupCommit;
  readonly clock: Clock;
  readonly metrics: RelayMetrics;
  readonly outbox: EventOutbox;
  readonly logger: Logger;
}

/**
 * The scheduler's `fire`: due steps go into one group-commit job, first in the next commit (they share its fsync
 * with the envelopes being accepted), each step in its own savepoint; after the commit their events are pushed to
 * connected devices.
 * Resolves with the steps whose savepoint failed, for the scheduler to retry.
 */
export async function fireEscalationSteps(deps: EscalationFiringDeps, steps: readonly DueEscalationStep[]): Promise<EscalationStepKey[]> {
  const { fired, failed } = await deps.commits.enqueue(() => {
    const fired: FiredEscalationStep[] = [];
    const failed: EscalationStepKey[] = [];
    for (const step of steps) {
      try {
        const result = deps.store.transaction(() => fireEscalationStep(deps.store, deps.audit, step, deps.clock.now()));
        if (result) fired.push(result);
      } catch (err) {
        deps.audit.resync();
        deps.logger.error({ err, envRowid: step.envRowid, step: step.step }, 'escalation step failed to fire; will retry');
        failed.push(step);
      }
    }
    return { fired, failed };
  }, { urgent: true });
  for (const f of fired) {
    deps.metrics.deadlineFireError.observe((f.firedAt - f.step.due) / 1000);
    deps.metrics.escalationSteps.inc({ action: f.step.action });
    deps.outbox.push(f.events);
  }
  return failed;
}
