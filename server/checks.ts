// Communication checks ("ping tests"): the relay asks every PoC (or one state's) to answer; devices sign a receipt, people sign an ack.
import { checkStartRequestSchema, HotlineError, uuidv7, verifyStatement, type CheckEventData } from '../shared/index.ts';
import type { z } from 'zod';
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import type { OutboxEvent } from './escalation.ts';
import type { EventOutbox } from './event-outbox.ts';
import type { GroupCommit } from './group-commit.ts';
import type { Logger } from './logger.ts';
import type { CheckRecord, CheckTargetRecord, MemberRecord, RelayStore } from './store.ts';

export const CHECK_RECEIPT_CTX = 'hotline-check-receipt-v1';
export const CHECK_ACK_CTX = 'hotline-check-ack-v1';

export interface CheckStatus extends CheckRecord {
  readonly targets: readonly (Omit<CheckTargetRecord, 'receiptSig' | 'ackSig'> & { readonly answered: boolean; readonly late: boolean })[];
  readonly answered: number;
  readonly missing: number;
}

export class CommunicationChecks {
  private timer: unknown = null;

  constructor(
    private readonly store: RelayStore,
    private readonly audit: AuditLog,
    private readonly commits: GroupCommit,
    private readonly clock: Clock,
    private readonly outbox: EventOutbox,
    private readonly relayKid: string,
    private readonly logger: Logger,
  ) {}

  /** Starts a check: one `check` event per target device (kept for offline devices), audit `check.start`. */
  async start(input: z.input<typeof checkStartRequestSchema>, startedBy: string): Promise<CheckStatus> {
    const req = checkStartRequestSchema.parse(input);
    if (req.state !== null && !this.store.stateExists(req.state)) throw new HotlineError('UNKNOWN_STATE', `no state ${req.state} on this relay`);
    const targets = this.store.activeResponders(req.state);
    if (targets.length === 0) throw new HotlineError('NOT_FOUND', `no active PoC${req.state ? ` of ${req.state}` : ''} to check`);
    const now = this.clock.now();
    const check = { checkId: `chk-${uuidv7(now)}`, startedBy, targetState: req.state, withinMs: req.withinMs, startedAt: now, deadline: now + req.withinMs };
    const events = await this.commits.enqueue((): OutboxEvent[] => {
      this.store.addCheck(check, targets);
      const event = this.audit.append('check.start', { checkId: check.checkId, state: check.targetState, withinMs: check.withinMs, deadline: check.deadline, targets: targets.map((t) => t.kid) }, now);
      const data: CheckEventData = { checkId: check.checkId, deadline: check.deadline, withinMs: check.withinMs, startedAt: now, targetState: check.targetState };
      const frame = this.audit.eventFrame('check', event, data);
      return targets.map((t) => ({ seq: this.store.addOutboxEvent(t.kid, event.seq, frame, now), kid: t.kid, frame }));
    });
    this.outbox.push(events);
    this.arm();
    return this.status(check.checkId);
  }

  /** A device's signed receipt or a person's signed ack; idempotent. */
  async answer(member: MemberRecord, checkId: string, kind: 'receipt' | 'ack', sig: string): Promise<boolean> {
    const check = this.store.getCheck(checkId);
    if (!check) throw new HotlineError('UNKNOWN_ID', `no communication check ${checkId}`);
    const ctx = kind === 'receipt' ? CHECK_RECEIPT_CTX : CHECK_ACK_CTX;
    if (!verifyStatement(member.kid, sig, ctx, { checkId, kid: member.kid, relay: this.relayKid })) throw new HotlineError('BAD_SIGNATURE', `check ${kind} signature does not verify`);
    if (!this.store.checkTargets(checkId).some((t) => t.kid === member.kid)) throw new HotlineError('FORBIDDEN', 'this key was not asked in that check');
    return this.commits.enqueue(() => {
      const now = this.clock.now();
      // An ack implies the device got it: record the receipt too when it is missing.
      if (kind === 'ack') this.store.recordCheckAnswer(checkId, member.kid, 'receipt', now, sig);
      if (!this.store.recordCheckAnswer(checkId, member.kid, kind, now, sig)) return false;
      this.audit.append(`check.${kind}`, { checkId, kid: member.kid, state: member.state, late: now > check.deadline, sig }, now);
      return true;
    });
  }

  /**
   * The full id of a check from its id or a unique prefix of it (at least chk- and 8 characters of it, as `check run`
   * prints it short); UNKNOWN_ID for none, BAD_INPUT for a malformed or ambiguous one.
   */
  resolveId(idOrPrefix: string): string {
    const typed = idOrPrefix.trim().toLowerCase();
    if (!/^chk-[0-9a-f][0-9a-f-]{7,35}$/.test(typed)) {
      throw new HotlineError('BAD_INPUT', `"${idOrPrefix}" is not a check id: it looks like chk-01a23a83-696b-7c2f-80cc-a191a7646246 (or its start as check run prints it, e.g. chk-01a23a83-696b)`);
    }
    if (this.store.getCheck(typed)) return typed;
    const matches = this.store.checkIdsByPrefix(typed);
    if (matches.length === 1) return matches[0] as string;
    if (matches.length > 1) throw new HotlineError('BAD_INPUT', `"${idOrPrefix}" matches several checks (${matches.join(', ')}); give more of the id`);
    throw new HotlineError('UNKNOWN_ID', `no communication check ${idOrPrefix} on this relay`);
  }

  status(idOrPrefix: string): CheckStatus {
    const checkId = this.resolveId(idOrPrefix);
    const check = this.store.getCheck(checkId);
    if (!check) throw new HotlineError('UNKNOWN_ID', `no communication check ${checkId}`);
    const targets = this.store.checkTargets(checkId).map(({ receiptSig: _r, ackSig: _a, ...t }) => ({
      ...t,
      answered: t.ackedAt !== null && t.ackedAt <= check.deadline,
      late: t.ackedAt !== null && t.ackedAt > check.deadline,
    }));
    const answered = targets.filter((t) => t.answered).length;
    return { ...check, targets, answered, missing: targets.length - answered };
  }

  /** Closes checks whose time is up (audit `check.end` with who answered); also called at start for checks a crash left open. */
  finishDue(): void {
    const due = this.store.openChecksDueBy(this.clock.now());
    const jobs = due.map((check) => {
      const st = this.status(check.checkId);
      return this.commits
        .enqueue(() => {
          if (!this.store.endCheck(check.checkId, this.clock.now())) return;
          this.audit.append('check.end', {
            checkId: check.checkId,
            answered: st.targets.filter((t) => t.answered).map((t) => t.kid),
            missing: st.targets.filter((t) => !t.answered).map((t) => t.kid),
          });
        })
        .catch((err: unknown) => this.logger.error({ err, checkId: check.checkId }, 'could not close check'));
    });
    void Promise.allSettled(jobs).then(() => this.arm());
  }

  private arm(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    const next = this.store.nextOpenCheckDeadline();
    if (next === null) return;
    this.timer = this.clock.setTimer(Math.max(0, next - this.clock.now()) + 5, () => {
      this.timer = null;
      this.finishDue();
    });
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }
}
