// What a session needs from the relay around it: store, commits, delivery, identity, config and hooks.
import type { ErrorCode, Identity } from '../shared/index.ts';
import type { AcceptContext, AcceptedEnvelope } from './accept.ts';
import type { Clock } from './clock.ts';
import type { RelayConfig } from './config.ts';
import type { DeliveryHub } from './delivery.ts';
import type { GroupCommit } from './group-commit.ts';
import type { Logger } from './logger.ts';
import type { RelayMetrics } from './metrics.ts';
import type { Session } from './session.ts';
import type { DrillRecord, RelayStore } from './store.ts';
import type { CommunicationChecks } from './checks.ts';
import type { Drills } from './drills.ts';
import type { EnvelopeVerifier } from './verify-pool.ts';

export interface RelayContext {
  readonly config: RelayConfig;
  readonly clock: Clock;
  readonly identity: Identity;
  readonly store: RelayStore;
  readonly commits: GroupCommit;
  /** Envelope signature checks, on worker threads unless configured inline. */
  readonly verifier: EnvelopeVerifier;
  readonly delivery: DeliveryHub;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  readonly acceptContext: AcceptContext;
  readonly drills: Drills;
  readonly checks: CommunicationChecks;
  /** Timing records and drill messages for a drill's status and report. */
  drillStatus(drill: DrillRecord): { records: Record<string, unknown>[]; messages: Record<string, unknown>[] };
  closeCodeOf(code: ErrorCode): number | null;
  onSessionStart(session: Session): void;
  onSessionEnd(session: Session): void;
  onAccepted(accepted: AcceptedEnvelope): void;
}
