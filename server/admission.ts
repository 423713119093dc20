// Backpressure: while too many sends wait for their signature check or commit, the relay stops reading from its sockets.

/** What admission control needs of a connection: ws's pause() and resume() stop and restart reading from its socket. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

export interface AdmissionOptions {
  /** Sends waiting for a signature check or a commit. */
  readonly backlog: () => number;
  readonly connections: () => Iterable<Pausable>;
  /** Stop reading at this backlog; read again once it is down to `low`. */
  readonly high: number;
  readonly low: number;
  readonly onPause?: () => void;
}

/**
 * Under a flood the relay would otherwise read frames faster than it can commit them: memory and latency grow
 * without bound and deadline timers fire late. Pausing the sockets leaves the excess in the senders' TCP buffers
 * (their sends take longer) while what was admitted is committed on time.
 */
export class Admission {
  private paused = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: AdmissionOptions) {
    if (!(options.low < options.high)) throw new Error('admission: low must be below high');
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Called after a frame was taken in: pauses every connection when the backlog is at its high mark. */
  check(): void {
    if (this.paused || this.options.backlog() < this.options.high) return;
    this.paused = true;
    this.options.onPause?.();
    for (const c of this.options.connections()) c.pause();
    this.timer = setInterval(() => {
      if (this.options.backlog() <= this.options.low) this.resume();
    }, 2);
  }

  /** A connection opened while paused starts paused. */
  adopt(connection: Pausable): void {
    if (this.paused) connection.pause();
  }

  private resume(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.paused = false;
    for (const c of this.options.connections()) c.resume();
  }

  stop(): void {
    if (this.paused) this.resume();
  }
}
