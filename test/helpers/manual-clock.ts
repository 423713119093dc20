// A Clock that moves only when a test says so: advance(ms) runs every timer that falls due, in due order, at its due time; passTime also lets I/O run between timers.
import type { Clock } from '../../server/clock.ts';

interface ManualTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private timers = new Map<number, ManualTimer>();

  constructor(start = Date.now()) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): unknown {
    const timer = { id: this.nextId++, at: this.current + Math.max(0, ms), fn };
    this.timers.set(timer.id, timer);
    return timer.id;
  }

  clearTimer(handle: unknown): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  /** Timers waiting to run. */
  get pending(): number {
    return this.timers.size;
  }

  /** When the earliest timer is due, or null when none is set. */
  nextTimerAt(): number | null {
    let at: number | null = null;
    for (const t of this.timers.values()) if (at === null || t.at < at) at = t.at;
    return at;
  }

  /**
   * Moves time forward by `ms`, running each timer due on the way at its own due time (earliest first, then in the
   * order they were set); timers those set run too when they fall within the step.
   */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: ManualTimer | null = null;
      for (const t of this.timers.values()) {
        if (t.at <= target && (next === null || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (next === null) break;
      this.timers.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = target;
  }

  /** Moves time to `at` (never backwards). */
  advanceTo(at: number): void {
    this.advance(Math.max(0, at - this.current));
  }
}

/**
 * Moves `clock` to `at` one timer at a time, awaiting `settle` after each, so work a timer starts (a group commit, a
 * socket write) happens at that timer's time, as it would on a real clock.
 */
export async function passTimeTo(clock: ManualClock, at: number, settle: () => Promise<void>): Promise<void> {
  for (let next = clock.nextTimerAt(); next !== null && next <= at; next = clock.nextTimerAt()) {
    clock.advanceTo(next);
    await settle();
  }
  clock.advanceTo(at);
  await settle();
}
