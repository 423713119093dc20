// Escalation policy: what happens, and when, after an acknowledgement deadline is missed (pure: times come in as arguments).

/** Steps a policy can take, in the order DESIGN.md gives them. */
export const escalationActions = ['overdue', 'page-alternates', 'notify-sender'] as const;
export type EscalationAction = (typeof escalationActions)[number];

/** One step of a channel's policy: `action` runs at `atPercent` % of the deadline's duration after acceptance. */
export interface EscalationStep {
  readonly action: EscalationAction;
  readonly atPercent: number;
}

export type EscalationPolicy = readonly EscalationStep[];

/** The default policy: overdue at 1.0×, page the alternates at 1.25×, tell the sender at 1.5× the deadline's duration. */
export const defaultEscalationPolicy: EscalationPolicy = Object.freeze([
  Object.freeze({ action: 'overdue', atPercent: 100 }),
  Object.freeze({ action: 'page-alternates', atPercent: 125 }),
  Object.freeze({ action: 'notify-sender', atPercent: 150 }),
] as const);

/** Smallest and largest `atPercent`: escalation starts when a deadline is missed, and ends within 10× its duration. */
export const escalationPercentRange = { min: 100, max: 1000 } as const;

/**
 * Why a policy is not acceptable, or null when it is: it starts with `overdue`, names each action at most once,
 * and its steps come strictly later one after another.
 */
export function escalationPolicyProblem(policy: EscalationPolicy): string | null {
  if (policy.length === 0) return 'an escalation policy needs at least the overdue step';
  if (policy[0]?.action !== 'overdue') return 'the first escalation step must be overdue';
  const seen = new Set<EscalationAction>();
  let last = -Infinity;
  for (const step of policy) {
    if (seen.has(step.action)) return `escalation step ${step.action} is listed twice`;
    seen.add(step.action);
    if (step.atPercent <= last) return 'escalation steps must come in strictly increasing atPercent order';
    last = step.atPercent;
  }
  return null;
}

/** A step of one deadline with its absolute due time. */
export interface ScheduledEscalationStep {
  /** Index of the step in the policy (0 is overdue). */
  readonly step: number;
  readonly action: EscalationAction;
  readonly due: number;
}

/**
 * Absolute due times of every step for a deadline of `durationMs` that started at `acceptedAt`.
 * @example escalationSchedule(0, 1000, defaultEscalationPolicy).map((s) => s.due) // [1000, 1250, 1500]
 */
export function escalationSchedule(acceptedAt: number, durationMs: number, policy: EscalationPolicy): ScheduledEscalationStep[] {
  return policy.map((s, step) => ({ step, action: s.action, due: acceptedAt + Math.round((durationMs * s.atPercent) / 100) }));
}

/** Kind of the relay event a device is sent when a step fires: `overdue` for the overdue step, `escalation` for the others. */
export type EscalationEventKind = 'overdue' | 'escalation';

export function escalationEventKind(action: EscalationAction): EscalationEventKind {
  return action === 'overdue' ? 'overdue' : 'escalation';
}

/** Audit event type of a fired step: `deadline.overdue`, `escalation.page-alternates`, `escalation.notify-sender`. */
export function escalationAuditType(action: EscalationAction): string {
  return action === 'overdue' ? 'deadline.overdue' : `escalation.${action}`;
}

/** Audit event types of the first acknowledgement of a thread. */
export const ackAuditTypes = { met: 'deadline.met', late: 'deadline.late' } as const;
