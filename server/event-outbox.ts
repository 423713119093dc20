// Relay events (overdue, escalation) to devices: written to every open socket of the device at once, kept in the store's outbox until then, and sent on its next login.
import type { Clock } from './clock.ts';
import type { DeliverySink } from './delivery.ts';
import type { OutboxEvent } from './escalation.ts';
import type { GroupCommit } from './group-commit.ts';
import type { Logger } from './logger.ts';
import type { RelayStore } from './store.ts';

const FLUSH_PAGE = 500;

export class EventOutbox {
  constructor(
    private readonly store: RelayStore,
    private readonly commits: GroupCommit,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** The authenticated sessions of one device key. */
    private readonly sinksOf: (kid: string) => Iterable<DeliverySink>,
  ) {}

  /** After the commit that queued them: writes each event to the open sockets of its device, and marks those sent. */
  push(events: readonly OutboxEvent[]): void {
    const sent: number[] = [];
    for (const event of events) {
      let written = false;
      for (const sink of this.sinksOf(event.kid)) if (sink.send(event.frame)) written = true;
      if (written) sent.push(event.seq);
    }
    this.markSent(sent);
  }

  /** Right after a device authenticates (after the welcome): every event it has not been sent, oldest first. */
  flush(sink: DeliverySink): void {
    const sent: number[] = [];
    let after = 0;
    for (;;) {
      const page = this.store.pendingOutbox(sink.kid, after, FLUSH_PAGE);
      for (const entry of page) {
        if (!sink.send(entry.frameJson)) return this.markSent(sent);
        sent.push(entry.seq);
        after = entry.seq;
      }
      if (page.length < FLUSH_PAGE) break;
    }
    this.markSent(sent);
  }

  /**
   * Rides on the next group commit. Should the relay stop before it commits, the event is sent again on the next
   * login: delivery of events is at least once, and a device dedupes them by auditSeq.
   */
  private markSent(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.commits
      .enqueue(() => this.store.markOutboxSent(seqs, this.clock.now()))
      .catch((err: unknown) => this.logger.warn({ err, events: seqs.length }, 'could not mark relay events sent; they will be sent again'));
  }
}
