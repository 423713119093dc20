// Group commit: writes queued within one turn of the event loop share a single SQLite transaction (one fsync).
import { toHotlineError } from '../shared/index.ts';
import type { RelayStore } from './store.ts';

interface Job {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitStats {
  onCommit(seconds: number, batchSize: number): void;
  onRollback(): void;
  /** One job's savepoint was rolled back (the batch goes on): in-memory state such as the audit head must follow. */
  onJobRollback?(): void;
}

/**
 * Each job runs inside a savepoint of the batch transaction: a job that throws (a refused envelope) is rolled
 * back alone and its promise rejects; the others commit together. Promises resolve only after the commit,
 * so nothing is acknowledged before it is durable.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private urgentQueued = 0;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly store: RelayStore,
    private readonly maxBatch: number,
    private readonly stats: GroupCommitStats,
    private readonly budgetMs = 20,
  ) {}

  /**
   * Queues a write for the next commit. `urgent` puts it first in that commit: escalation steps are stamped when
   * their job runs and should not wait behind a thousand envelopes. (Committing them at once instead, each with
   * its own fsync, measured worse under load: p50 fire error 16-500 ms against 10 ms.)
   */
  enqueue<T>(run: () => T, options: { readonly urgent?: boolean } = {}): Promise<T> {
    if (this.closed) return Promise.reject(toHotlineError(new Error('store is closed')));
    return new Promise<T>((resolve, reject) => {
      const job = { run, resolve: resolve as (value: unknown) => void, reject };
      // Urgent jobs keep their own order, ahead of the others.
      if (options.urgent) this.queue.splice(this.urgentQueued++, 0, job);
      else this.queue.push(job);
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Commits what is queued now, in one transaction: at most maxBatch jobs, and no more once the jobs have run for
   * budgetMs (the rest go back to the head of the queue for the next turn). The budget bounds how long one commit
   * holds the event loop, and with it how late a deadline timer can fire under load.
   */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    const urgentInBatch = Math.min(this.urgentQueued, batch.length);
    this.urgentQueued -= urgentInBatch;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    const started = performance.now();
    try {
      this.store.transaction(() => {
        for (const job of batch) {
          try {
            outcomes.push({ ok: true, value: this.store.transaction(job.run) });
          } catch (error) {
            outcomes.push({ ok: false, value: error });
            this.stats.onJobRollback?.();
          }
          if (performance.now() - started >= this.budgetMs) break;
        }
      });
    } catch (error) {
      this.stats.onRollback();
      for (const job of batch.slice(0, outcomes.length)) job.reject(toHotlineError(error));
      this.requeue(batch.slice(outcomes.length), urgentInBatch - outcomes.length);
      return;
    }
    const ran = batch.slice(0, outcomes.length);
    this.requeue(batch.slice(outcomes.length), urgentInBatch - outcomes.length);
    this.stats.onCommit((performance.now() - started) / 1000, ran.length);
    ran.forEach((job, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) job.resolve(outcome.value);
      else job.reject(outcome?.value);
    });
  }

  /** Puts jobs that did not run back at the head of the queue (urgent ones keep their place) and schedules the next flush. */
  private requeue(rest: Job[], urgent: number): void {
    if (rest.length > 0) {
      this.queue.unshift(...rest);
      this.urgentQueued += Math.max(0, urgent);
    }
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      // The event loop (timers, other sockets) gets a turn between commits.
      setImmediate(() => this.flush());
    }
  }

  close(): void {
    while (this.queue.length > 0) this.flush();
    this.scheduled = false;
    this.closed = true;
  }
}
