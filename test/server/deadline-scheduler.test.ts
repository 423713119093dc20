// The deadline scheduler alone, over an in-memory stand-in for the store: order, bounded memory, cancellation, retry.
import { describe, expect, it } from 'vitest';
import { compareSteps, DeadlineScheduler } from '../../server/deadline-scheduler.ts';
import type { DueEscalationStep, EscalationStepKey } from '../../server/store.ts';
import { ManualClock } from '../helpers/manual-clock.ts';

/** A fake of the store's escalation_steps table: sorted by (due, envRowid, step), with open/fired/cancelled state. */
class FakeSteps {
  readonly rows: DueEscalationStep[] = [];
  readonly state = new Map<string, 'open' | 'fired' | 'cancelled'>();
  readonly firedOrder: DueEscalationStep[] = [];
  /** Steps handed to fire before they were due (must stay empty). */
  readonly early: DueEscalationStep[] = [];
  failNext = 0;

  static key(k: EscalationStepKey): string {
    return `${k.envRowid}:${k.step}`;
  }

  insert(steps: readonly DueEscalationStep[]): void {
    for (const s of steps) {
      this.rows.push(s);
      this.state.set(FakeSteps.key(s), 'open');
    }
    this.rows.sort(compareSteps);
  }

  loadOpen(after: DueEscalationStep | null, limit: number): DueEscalationStep[] {
    let lo = 0;
    let hi = this.rows.length;
    while (after && lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareSteps(this.rows[mid] as DueEscalationStep, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const out: DueEscalationStep[] = [];
    for (let i = lo; i < this.rows.length && out.length < limit; i++) {
      const row = this.rows[i] as DueEscalationStep;
      if (this.state.get(FakeSteps.key(row)) === 'open') out.push(row);
    }
    return out;
  }

  fire(steps: readonly DueEscalationStep[], now: number): EscalationStepKey[] {
    if (this.failNext > 0) {
      this.failNext--;
      return [...steps];
    }
    for (const s of steps) {
      if (s.due > now) this.early.push(s);
      if (this.state.get(FakeSteps.key(s)) !== 'open') continue;
      this.state.set(FakeSteps.key(s), 'fired');
      this.firedOrder.push(s);
    }
    return [];
  }

  cancel(envRowid: number): EscalationStepKey[] {
    const keys: EscalationStepKey[] = [];
    for (const row of this.rows) {
      if (row.envRowid === envRowid && this.state.get(FakeSteps.key(row)) === 'open') {
        this.state.set(FakeSteps.key(row), 'cancelled');
        keys.push(row);
      }
    }
    return keys;
  }
}

function stepsFor(envRowid: number, acceptedAt: number, durationMs: number): DueEscalationStep[] {
  return [
    { envRowid, step: 0, action: 'overdue', due: acceptedAt + durationMs },
    { envRowid, step: 1, action: 'page-alternates', due: acceptedAt + Math.round(durationMs * 1.25) },
    { envRowid, step: 2, action: 'notify-sender', due: acceptedAt + Math.round(durationMs * 1.5) },
  ];
}

function setup(window: number) {
  const clock = new ManualClock(1_000_000);
  const store = new FakeSteps();
  const errors: unknown[] = [];
  const scheduler = new DeadlineScheduler(
    {
      clock,
      loadOpen: (after, limit) => store.loadOpen(after, limit),
      fire: (steps) => Promise.resolve(store.fire(steps, clock.now())),
      onFireError: (error) => errors.push(error),
    },
    { window, fireBatch: 500, retryMs: 1_000 },
  );
  return { clock, store, scheduler, errors };
}

/** Lets promise callbacks (fire results) run. */
const microtasks = () => new Promise((resolve) => setImmediate(resolve));

describe('deadline-scheduler', () => {
  it('fires 10^5 pending steps recovered from the store exactly once each, in due order, holding at most twice its window', async () => {
    const { clock, store, scheduler } = setup(10_000);
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const pending: DueEscalationStep[] = [];
    for (let i = 1; i <= 100_000 / 3; i++) pending.push(...stepsFor(i, clock.now() + Math.floor(random() * 3_600_000), 60_000));
    store.insert(pending);
    const total = store.rows.length;
    scheduler.start();
    let maxInMemory = scheduler.inMemory;
    const end = clock.now() + 2 * 3_600_000;
    while (clock.now() < end) {
      clock.advance(60_000);
      maxInMemory = Math.max(maxInMemory, scheduler.inMemory);
      await microtasks();
    }
    expect(store.firedOrder).toHaveLength(total);
    expect(new Set(store.firedOrder.map(FakeSteps.key)).size).toBe(total);
    const sorted = [...store.firedOrder].sort(compareSteps);
    expect(store.firedOrder).toEqual(sorted);
    expect(maxInMemory).toBeLessThanOrEqual(20_000);
    expect(store.early).toEqual([]);
    expect(scheduler.nextDue).toBeNull();
  });

  it('fires a step at its due time, not before', () => {
    const { clock, store, scheduler } = setup(100);
    scheduler.start();
    const steps = stepsFor(1, clock.now(), 1000);
    store.insert(steps);
    scheduler.add(steps);
    clock.advance(999);
    expect(store.firedOrder).toEqual([]);
    clock.advance(1);
    expect(store.firedOrder.map((s) => s.step)).toEqual([0]);
    clock.advance(500);
    expect(store.firedOrder.map((s) => s.step)).toEqual([0, 1, 2]);
  });

  it('takes new steps beyond its window from the store later, and still fires them on time', async () => {
    const { clock, store, scheduler } = setup(4);
    scheduler.start();
    for (let i = 1; i <= 20; i++) {
      const steps = stepsFor(i, clock.now(), 10_000);
      store.insert(steps);
      scheduler.add(steps);
      expect(scheduler.inMemory).toBeLessThanOrEqual(8);
      clock.advance(100);
    }
    for (let t = 0; t < 40; t++) {
      clock.advance(500);
      await microtasks();
    }
    expect(store.firedOrder).toHaveLength(60);
    expect(store.firedOrder).toEqual([...store.firedOrder].sort(compareSteps));
  });

  it('forgets cancelled steps at once, so they neither fire nor wake it', () => {
    const { clock, store, scheduler } = setup(100);
    scheduler.start();
    const a = stepsFor(1, clock.now(), 1000);
    const b = stepsFor(2, clock.now(), 2000);
    store.insert([...a, ...b]);
    scheduler.add([...a, ...b]);
    scheduler.cancel(store.cancel(1));
    expect(scheduler.inMemory).toBe(3);
    expect(scheduler.nextDue).toBe(clock.now() + 2000);
    clock.advance(10_000);
    expect(store.firedOrder.map((s) => s.envRowid)).toEqual([2, 2, 2]);
  });

  it('tries a step again when its transaction failed', async () => {
    const { clock, store, scheduler } = setup(100);
    scheduler.start();
    const steps = stepsFor(1, clock.now(), 1000).slice(0, 1);
    store.insert(steps);
    scheduler.add(steps);
    store.failNext = 1;
    clock.advance(1000);
    await microtasks();
    expect(store.firedOrder).toEqual([]);
    clock.advance(1000);
    expect(store.firedOrder).toHaveLength(1);
  });

  it('arms no timer after stop', () => {
    const { clock, store, scheduler } = setup(100);
    scheduler.start();
    const steps = stepsFor(1, clock.now(), 1000);
    store.insert(steps);
    scheduler.add(steps);
    scheduler.stop();
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    expect(store.firedOrder).toEqual([]);
  });
});
