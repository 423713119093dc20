// Delivery: fan-out of accepted envelopes to connected recipient devices, a bounded in-flight window, confirmation and redelivery.
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import type { GroupCommit } from './group-commit.ts';
import type { RelayMetrics } from './metrics.ts';
import type { PendingDelivery, RelayStore } from './store.ts';

/** One authenticated device connection, as delivery sees it. */
export interface DeliverySink {
  readonly kid: string;
  readonly state: string;
  /** Sends one text frame; false when the socket is gone. */
  send(frame: string): boolean;
  /** Bytes written but not yet taken by the network (the reader's backlog). */
  readonly bufferedAmount: number;
  /**
   * Asks the device to show that it has read everything sent to it so far (a WebSocket ping, which its pong answers
   * only once the frames before it were read); calls `onRead` when it has.
   */
  probeReading(onRead: () => void): void;
}

interface InFlight {
  readonly rowid: number;
  sentAt: number;
  /** Place of its last copy in this connection's stream of deliver frames. */
  sentNo: number;
}

interface SinkState {
  readonly sink: DeliverySink;
  readonly inflight: Map<string, InFlight>;
  /** Highest rowid handed to this sink; the next pump reads after it. */
  cursor: number;
  /** True when every pending row up to `cursor` was read: new envelopes can be pushed without a query. */
  caughtUp: boolean;
  /** Deliver frames sent on this connection so far. */
  sentCount: number;
  /** The device has read every deliver frame up to this number (its answer to a probe came back). */
  readThrough: number;
  /** True while a probe waits for its answer. */
  probing: boolean;
}

export function deliverFrame(d: Pick<PendingDelivery, 'envelopeJson' | 'receiptJson'>): string {
  return `{"type":"deliver","envelope":${d.envelopeJson},"receipt":${d.receiptJson}}`;
}

export class DeliveryHub {
  private readonly sinks = new Map<DeliverySink, SinkState>();
  private readonly byKid = new Map<string, Set<SinkState>>();

  constructor(
    private readonly store: RelayStore,
    private readonly commits: GroupCommit,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly metrics: RelayMetrics,
    private readonly window: number,
    private readonly redeliverAfterMs: number,
  ) {}

  /** Starts delivery to a newly authenticated device: everything pending, in order, from the beginning of its queue. */
  attach(sink: DeliverySink): void {
    const state: SinkState = { sink, inflight: new Map(), cursor: 0, caughtUp: false, sentCount: 0, readThrough: 0, probing: false };
    this.sinks.set(sink, state);
    let set = this.byKid.get(sink.kid);
    if (!set) {
      set = new Set();
      this.byKid.set(sink.kid, set);
    }
    set.add(state);
    this.pump(state);
  }

  detach(sink: DeliverySink): void {
    const state = this.sinks.get(sink);
    if (!state) return;
    this.sinks.delete(sink);
    const set = this.byKid.get(sink.kid);
    set?.delete(state);
    if (set?.size === 0) this.byKid.delete(sink.kid);
  }

  connectedKids(): string[] {
    return [...this.byKid.keys()];
  }

  isConnected(kid: string): boolean {
    return (this.byKid.get(kid)?.size ?? 0) > 0;
  }

  /** Called after a commit: offers the new envelope to every connected device of each recipient. */
  offer(kids: readonly string[], delivery: PendingDelivery): void {
    for (const kid of kids) {
      for (const state of this.byKid.get(kid) ?? []) {
        if (state.caughtUp && state.inflight.size < this.window && delivery.rowid > state.cursor) {
          this.sendOne(state, delivery);
        } else {
          state.caughtUp = false;
          this.pump(state);
        }
      }
    }
  }

  /** Device confirmed these ids: mark delivered (durably, with an audit event each), then send more. */
  async confirm(sink: DeliverySink, ids: readonly string[]): Promise<number> {
    const state = this.sinks.get(sink);
    const confirmed = await this.commits.enqueue(() => {
      let n = 0;
      const now = this.clock.now();
      for (const id of ids) {
        const rowid = state?.inflight.get(id)?.rowid ?? this.store.rowidOf(id);
        if (rowid === null || rowid === undefined) continue;
        if (this.store.confirmDelivery(sink.kid, rowid, now)) {
          this.audit.append('delivered', { id, to: sink.kid, state: sink.state }, now);
          n++;
        }
      }
      return n;
    });
    this.metrics.delivered.inc(confirmed);
    if (state && this.sinks.has(sink)) {
      for (const id of ids) state.inflight.delete(id);
      // Caught up: newer envelopes reach this device through offer(), so there is nothing to read back.
      if (!state.caughtUp) this.pump(state);
    }
    return confirmed;
  }

  /**
   * Resends deliveries that stayed unconfirmed too long on live connections, but only those the device has read
   * (it skipped them): a copy sent behind an unread one would only grow its backlog. An empty send buffer here does not
   * show that: the kernel's socket buffers hold megabytes for a reader that stopped reading. So an overdue delivery
   * first gets a probe behind it, and is sent again once the probe's answer shows the device read past it.
   */
  sweep(): void {
    const now = this.clock.now();
    for (const state of this.sinks.values()) {
      // A reader that has not taken what we sent gets nothing more: resending would only grow its backlog.
      if (state.sink.bufferedAmount > 0) continue;
      let unread = false;
      for (const [id, f] of state.inflight) {
        if (now - f.sentAt < this.redeliverAfterMs) continue;
        if (f.sentNo > state.readThrough) {
          unread = true;
          continue;
        }
        const rows = this.store.pendingFor(state.sink.kid, f.rowid - 1, 1);
        const row = rows[0];
        if (!row || row.id !== id) {
          state.inflight.delete(id);
          continue;
        }
        f.sentAt = now;
        f.sentNo = ++state.sentCount;
        state.sink.send(deliverFrame(row));
      }
      if (unread && !state.probing) this.probe(state);
      // A caught-up device gets new envelopes through offer(): reading its queue again (one query per connected
      // device every sweep, a 10 ms stall with 1,000 devices) would find nothing.
      if (!state.caughtUp) this.pump(state);
    }
  }

  /** One probe at a time per connection: its answer moves readThrough up to what was sent before it. */
  private probe(state: SinkState): void {
    const upTo = state.sentCount;
    state.probing = true;
    state.sink.probeReading(() => {
      state.probing = false;
      state.readThrough = Math.max(state.readThrough, upTo);
    });
  }

  private sendOne(state: SinkState, d: PendingDelivery): void {
    state.inflight.set(d.id, { rowid: d.rowid, sentAt: this.clock.now(), sentNo: ++state.sentCount });
    state.cursor = Math.max(state.cursor, d.rowid);
    state.sink.send(deliverFrame(d));
  }

  private pump(state: SinkState): void {
    const room = this.window - state.inflight.size;
    if (room <= 0) return;
    const rows = this.store.pendingFor(state.sink.kid, state.cursor, room);
    for (const row of rows) this.sendOne(state, row);
    state.caughtUp = rows.length < room;
  }
}
