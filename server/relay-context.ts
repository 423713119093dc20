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
import type { RelayStore } from './store.ts';

export interface RelayContext {
  readonly config: RelayConfig;
  readonly clock: Clock;
  readonly identity: Identity;
  readonly store: RelayStore;
  readonly commits: GroupCommit;
  readonly delivery: DeliveryHub;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  readonly acceptContext: AcceptContext;
  closeCodeOf(code: ErrorCode): number | null;
  onSessionStart(session: Session): void;
  onSessionEnd(session: Session): void;
  onAccepted(accepted: AcceptedEnvelope): void;
}
