// The deadline scheduler: the earliest open escalation steps held in memory as a window over the store, and one timer on the injected clock for the first of them.
import type { Clock } from './clock.ts';
import { IndexedMinHeap, type HeapItem } from './indexed-heap.ts';
import type { DueEscalationStep, EscalationStepKey } from './store.ts';

/** setTimeout's longest delay; a later step is reached by waking early and arming again. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DeadlineSchedulerDeps {
  readonly clock: Clock;
  /** Open steps after `after` in (due, envRowid, step) order, from the start when null: the store is the truth. */
  loadOpen(after: DueEscalationStep | null, limit: number): DueEscalationStep[];
  /** Fires due steps durably, in the order given; resolves with those that failed and must be tried again. */
  fire(steps: readonly DueEscalationStep[]): Promise<readonly EscalationStepKey[]>;
  onFireError(error: unknown, steps: readonly DueEscalationStep[]): void;
}

export interface DeadlineSchedulerOptions {
  /** Steps loaded from the store at a time; memory holds between a quarter of this and twice this many. */
  readonly window: number;
  /** Most steps fired in one transaction; more due at once go in the next, right after. */
  readonly fireBatch: number;
  /** Wait before firing again a step whose transaction failed. */
  readonly retryMs: number;
}

export const defaultSchedulerOptions: DeadlineSchedulerOptions = { window: 10_000, fireBatch: 500, retryMs: 1_000 };

interface Entry extends HeapItem {
  readonly step: DueEscalationStep;
  readonly key: string;
}

/** Order of firing: due time, then acceptance (envelope rowid), then policy order. */
export function compareSteps(a: DueEscalationStep, b: DueEscalationStep): number {
  return a.due - b.due || a.envRowid - b.envRowid || a.step - b.step;
}

function keyOf(k: EscalationStepKey): string {
  return `${k.envRowid}:${k.step}`;
}

/**
 * Invariant: every open step up to `loadedThrough` is in memory (in the heap, or being fired), and none after it;
 * when `complete`, every open step is. New steps past the window stay in the store until a refill reaches them,
 * so memory is bounded however many deadlines are pending.
 */
export class DeadlineScheduler {
  private readonly heap = new IndexedMinHeap<Entry>((a, b) => compareSteps(a.step, b.step) < 0);
  /** Steps in memory by key: in the heap, being fired, or waiting for a retry. */
  private readonly live = new Map<string, Entry>();
  private loadedThrough: DueEscalationStep | null = null;
  private complete = false;
  private timer: unknown = null;
  private timerAt: number | null = null;
  private readonly retryTimers = new Set<unknown>();
  private running = false;
  private readonly options: DeadlineSchedulerOptions;

  constructor(
    private readonly deps: DeadlineSchedulerDeps,
    options: Partial<DeadlineSchedulerOptions> = {},
  ) {
    this.options = { ...defaultSchedulerOptions, ...options };
  }

  /** Loads the first window from the store and arms the timer; steps already due fire at once, in due order. */
  start(): void {
    this.running = true;
    this.refill();
    this.arm();
  }

  /** Stops firing; steps being fired finish with their transaction, the rest wait in the store for the next start. */
  stop(): void {
    this.running = false;
    this.disarm();
    for (const t of this.retryTimers) this.deps.clock.clearTimer(t);
    this.retryTimers.clear();
  }

  /** Steps just committed with their envelope. */
  add(steps: readonly DueEscalationStep[]): void {
    if (!this.running || steps.length === 0) return;
    for (const step of steps) {
      const key = keyOf(step);
      if (this.live.has(key)) continue;
      if (!this.complete && (this.loadedThrough === null || compareSteps(step, this.loadedThrough) > 0)) continue;
      this.insert(step, key);
    }
    this.trim();
    this.arm();
  }

  /** Steps an ack cancelled in the store. One being fired right now finds itself cancelled there and does nothing. */
  cancel(keys: readonly EscalationStepKey[]): void {
    if (!this.running || keys.length === 0) return;
    for (const k of keys) {
      const key = keyOf(k);
      const entry = this.live.get(key);
      if (entry && this.heap.remove(entry)) this.live.delete(key);
    }
    this.refillIfLow();
    this.arm();
  }

  /** Steps held in memory (waiting in the heap). */
  get inMemory(): number {
    return this.heap.size;
  }

  /** Due time of the earliest open step, or null when none is pending. */
  get nextDue(): number | null {
    return this.heap.peek()?.step.due ?? null;
  }

  private insert(step: DueEscalationStep, key: string): void {
    const entry: Entry = { step, key, heapIndex: -1 };
    this.live.set(key, entry);
    this.heap.push(entry);
  }

  private refill(): void {
    const rows = this.deps.loadOpen(this.loadedThrough, this.options.window);
    for (const step of rows) {
      const key = keyOf(step);
      if (!this.live.has(key)) this.insert(step, key);
    }
    const last = rows[rows.length - 1];
    if (rows.length < this.options.window || !last) this.complete = true;
    else this.loadedThrough = last;
  }

  private refillIfLow(): void {
    if (!this.complete && this.heap.size < this.options.window / 4) this.refill();
  }

  /** Keeps memory bounded: beyond twice the window, the latest steps are dropped back to the store. */
  private trim(): void {
    if (this.heap.size <= 2 * this.options.window) return;
    const sorted = this.heap.toArray().sort((a, b) => compareSteps(a.step, b.step));
    for (const entry of sorted.slice(this.options.window)) {
      this.heap.remove(entry);
      this.live.delete(entry.key);
    }
    const last = sorted[this.options.window - 1];
    if (last) {
      this.loadedThrough = last.step;
      this.complete = false;
    }
  }

  private arm(): void {
    if (!this.running) return;
    const top = this.heap.peek();
    if (!top) return this.disarm();
    if (this.timerAt !== null && this.timerAt <= top.step.due) return;
    this.disarm();
    const now = this.deps.clock.now();
    const delay = Math.min(Math.max(0, top.step.due - now), MAX_TIMER_MS);
    this.timerAt = now + delay;
    this.timer = this.deps.clock.setTimer(delay, () => this.wake());
  }

  private disarm(): void {
    if (this.timer !== null) this.deps.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = null;
  }

  private wake(): void {
    this.timer = null;
    this.timerAt = null;
    if (!this.running) return;
    const now = this.deps.clock.now();
    const entries: Entry[] = [];
    for (let top = this.heap.peek(); top && top.step.due <= now && entries.length < this.options.fireBatch; top = this.heap.peek()) {
      this.heap.pop();
      entries.push(top);
    }
    if (entries.length > 0) this.fire(entries);
    this.refillIfLow();
    this.arm();
  }

  private fire(entries: readonly Entry[]): void {
    const steps = entries.map((e) => e.step);
    this.deps.fire(steps).then(
      (failed) => {
        const failedKeys = new Set(failed.map(keyOf));
        for (const e of entries) if (!failedKeys.has(e.key)) this.live.delete(e.key);
        this.retryLater(entries.filter((e) => failedKeys.has(e.key)));
      },
      (error: unknown) => {
        this.deps.onFireError(error, steps);
        this.retryLater(entries);
      },
    );
  }

  private retryLater(entries: readonly Entry[]): void {
    if (entries.length === 0 || !this.running) return;
    const timer = this.deps.clock.setTimer(this.options.retryMs, () => {
      this.retryTimers.delete(timer);
      if (!this.running) return;
      for (const e of entries) if (this.live.get(e.key) === e && e.heapIndex < 0) this.heap.push(e);
      this.arm();
    });
    this.retryTimers.add(timer);
  }
}
