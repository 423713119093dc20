// Deadline fire error under load: probe notices with a short FLASH deadline that nobody acknowledges, timed against the overdue event.
import type WebSocket from 'ws';
import type { BuiltPool } from './envelope-pool.ts';
import { closeSockets, connectHotline } from './hotline-links.ts';
import { ConfirmBatcher } from './links.ts';
import type { BenchPair } from './population.ts';
import { summarise, type Distribution } from './stats.ts';
import type { WireFrame } from './wire.ts';

/** One escalation step that fired for a probe notice, as a client sees it. */
export interface FiredStep {
  /** Notice id and step number: each step of the escalation policy is one sample. */
  readonly key: string;
  readonly id: string;
  readonly firedAt: number;
  /** When the step was due (relay clock); null when the event does not say, then the receipt's ackDeadline is used. */
  readonly due: number | null;
}

/**
 * THE PLUG-IN POINT for the deadline scheduler (server/deadline-scheduler.ts, server/escalation.ts): how a fired
 * escalation step reaches a client. Today: an `event` frame of kind `overdue` or `escalation` whose data holds the
 * notice `id`, the `step` number and its `due` time, with `at` = when it fired. If that shape changes, adapt this only.
 */
export function firedStepOf(frame: WireFrame): FiredStep | null {
  if (frame.type !== 'event' || !/overdue|escalat|deadline/.test(frame.kind) || !Number.isFinite(frame.at)) return null;
  const id = frame.data.id;
  if (typeof id !== 'string') return null;
  const step = typeof frame.data.step === 'number' ? frame.data.step : 0;
  const due = typeof frame.data.due === 'number' ? frame.data.due : null;
  return { key: `${id}:${step}`, id, firedAt: frame.at, due };
}

export interface DeadlineFigures {
  /** Relay clock: event `at` minus the step's due time (how late the scheduler fired), every fired step a sample. */
  readonly fireErrorMs: { readonly p50: number | null; readonly p99: number | null; readonly max: number | null };
  /** Client clock (same machine): when the event frame arrived minus the due time (adds commit and delivery of the event). */
  readonly observedErrorMs: Distribution | null;
  readonly deadlineMs: number;
  /** Probe notices accepted, and escalation steps seen firing for them. */
  readonly probes: number;
  readonly events: number;
  readonly note: string;
}

const noScheduler =
  'null: no overdue event arrived for any probe notice. The deadline scheduler is not in this relay ' +
  '(or its event shape differs: adapt firedStepOf() in bench/deadline-probe.ts).';

export class DeadlineProbe {
  private readonly deadlines = new Map<string, number>();
  private readonly fired = new Map<string, FiredStep & { seenAt: number }>();
  private sockets: WebSocket[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;

  constructor(
    private readonly url: string,
    private readonly probe: BenchPair,
    private readonly pool: BuiltPool,
    private readonly deadlineMs: number,
  ) {}

  private onFrame(frame: WireFrame): void {
    if (frame.type === 'accepted' && frame.ackDeadline !== null) this.deadlines.set(frame.rid, frame.ackDeadline);
    const step = firedStepOf(frame);
    if (step && !this.fired.has(step.key)) this.fired.set(step.key, { ...step, seenAt: Date.now() });
  }

  /** Connects the probe pair and sends its pool evenly over `spreadMs`. */
  async start(spreadMs: number): Promise<void> {
    let recipientSocket: WebSocket | null = null;
    const confirms = new ConfirmBatcher((frame) => recipientSocket?.send(frame));
    recipientSocket = await connectHotline(this.url, this.probe.recipient.identity, (frame) => {
      // Delivered (confirmed) but never acknowledged: the ack deadline must fire.
      if (frame.type === 'deliver') confirms.add(frame.id);
      this.onFrame(frame);
    });
    const sender = await connectHotline(this.url, this.probe.sender.identity, (frame) => this.onFrame(frame));
    this.sockets = [recipientSocket, sender];
    const every = Math.max(10, Math.floor(spreadMs / Math.max(1, this.pool.frames.length)));
    this.timer = setInterval(() => {
      const frame = this.pool.frames[this.sent];
      if (frame === undefined) return this.stopSending();
      sender.send(frame);
      this.sent++;
    }, every);
  }

  private stopSending(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Waits until every probe has an overdue event or its deadline passed by `graceMs`, at most `maxWaitMs`; then reports. */
  async finish(graceMs: number, maxWaitMs: number): Promise<DeadlineFigures> {
    this.stopSending();
    const lastDeadline = Math.max(Date.now(), ...this.deadlines.values());
    const until = Math.min(lastDeadline + graceMs, Date.now() + maxWaitMs);
    const overdue = () => new Set([...this.fired.values()].map((f) => f.id)).size;
    while (Date.now() < until && overdue() < this.deadlines.size) await new Promise((r) => setTimeout(r, 50));
    await closeSockets(this.sockets);
    const fireErrors: number[] = [];
    const observed: number[] = [];
    for (const f of this.fired.values()) {
      const due = f.due ?? this.deadlines.get(f.id);
      if (due === undefined) continue;
      fireErrors.push(f.firedAt - due);
      observed.push(f.seenAt - due);
    }
    const fire = summarise(fireErrors);
    return {
      fireErrorMs: { p50: fire?.p50 ?? null, p99: fire?.p99 ?? null, max: fire?.max ?? null },
      observedErrorMs: summarise(observed),
      deadlineMs: this.deadlineMs,
      probes: this.deadlines.size,
      events: fireErrors.length,
      note:
        fireErrors.length === 0
          ? noScheduler
          : `${fireErrors.length} escalation steps fired for ${this.deadlines.size} probe notices (FLASH deadline ${this.deadlineMs} ms, ` +
            'delivered but never acknowledged) sent through the Hotline 2000/s latency step; error = event `at` − step `due`, relay clock',
    };
  }
}
