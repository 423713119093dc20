// Appends relay events to the hash chain in the store and signs a checkpoint every N events or T milliseconds.
import { signCheckpoint, signManifest, signRelayEvent, type AuditEvent, type BundleManifest, type Identity } from '../shared/index.ts';
import type { Clock } from './clock.ts';
import type { RelayStore } from './store.ts';

/** Signs export manifests with the relay key (without handing the key to the review side). */
export interface ManifestSigner {
  readonly kid: string;
  sign(fields: Omit<BundleManifest, 'sig' | 'relay'>): BundleManifest;
}

export class AuditLog {
  private lastCheckpointSeq: number;
  private lastCheckpointAt: number;

  constructor(
    private readonly store: RelayStore,
    private readonly relay: Identity,
    private readonly clock: Clock,
    private readonly every: number,
    private readonly intervalMs: number,
  ) {
    this.lastCheckpointSeq = store.lastCheckpointSeq();
    this.lastCheckpointAt = clock.now();
  }

  /** Appends one event; call inside a store transaction. */
  append(type: string, data: Record<string, unknown>, at = this.clock.now()): AuditEvent {
    const event = this.store.appendAudit(at, type, data);
    if (event.seq - this.lastCheckpointSeq >= this.every) this.checkpointAt(event);
    return event;
  }

  /** The relay's signature on an export bundle's manifest. */
  get manifestSigner(): ManifestSigner {
    const relay = this.relay;
    return { kid: relay.kid, sign: (fields) => signManifest(relay, fields) };
  }

  /** The `event` frame devices are sent for an audit event, signed by the relay (shared/evidence/relay-event.ts). */
  eventFrame(kind: string, event: AuditEvent, data: Record<string, unknown>): string {
    return JSON.stringify({ type: 'event', event: signRelayEvent(this.relay, { kind, auditSeq: event.seq, auditHash: event.hash, at: event.at, data }) });
  }

  /** Signs a checkpoint over the current head when events were added since the last one, or when `force`d by the timer. */
  checkpointIfDue(force = false): void {
    const head = this.store.auditHead();
    if (!head || head.seq === this.lastCheckpointSeq) return;
    if (!force && this.clock.now() - this.lastCheckpointAt < this.intervalMs) return;
    this.store.transaction(() => this.checkpointAt(head));
  }

  private checkpointAt(head: AuditEvent): void {
    this.store.putCheckpoint(signCheckpoint(this.relay, head, this.clock.now()));
    this.lastCheckpointSeq = head.seq;
    this.lastCheckpointAt = this.clock.now();
  }

  /** After a rolled-back transaction: forget in-memory state the database no longer has. */
  resync(): void {
    this.store.reloadAuditHead();
    this.lastCheckpointSeq = this.store.lastCheckpointSeq();
  }
}
