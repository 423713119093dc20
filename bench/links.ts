// What a load step drives, whatever the peer: one link per sender/recipient pair, and the events the peer reports back.

/** Callbacks a peer's connections call; the load step records timings from them. */
export interface LoadEvents {
  /** The relay (or broker) took responsibility for the message: Hotline `accepted`, bare `accepted`, MQTT PUBACK. */
  accepted(id: string): void;
  /** The recipient received it. */
  delivered(id: string): void;
  /** The relay refused it (Hotline error frame, MQTT publish error). */
  refused(code: string, id: string | null): void;
}

/** One sender→recipient pair: `send` hands the pre-built frame of envelope `id` to the sender's connection. */
export interface LoadLink {
  readonly key: string;
  send(frame: string, id: string): void;
}

/** All pairs connected to one peer for one step. */
export interface PeerConnections {
  readonly links: readonly LoadLink[];
  close(): Promise<void>;
}

export type PeerName = 'hotline' | 'bare' | 'mosquitto';

/** Messages the recipient has received but not yet confirmed, sent as one `confirm` frame per event-loop turn. */
export class ConfirmBatcher {
  private ids: string[] = [];
  private scheduled = false;

  constructor(private readonly sendFrame: (frame: string) => void) {}

  add(id: string): void {
    this.ids.push(id);
    if (this.ids.length >= 512) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.ids.length === 0) return;
    this.sendFrame(JSON.stringify({ type: 'confirm', ids: this.ids }));
    this.ids = [];
  }
}
