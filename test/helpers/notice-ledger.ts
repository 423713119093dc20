// Counts what each PoC application was handed ('notice' events per id) and what its history.db holds: the evidence for exactly-once.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { HotlineClient } from '../../client/hotline-client.ts';
import type { MessageRecord } from '../../client/history.ts';

interface Waiter {
  readonly ids: ReadonlySet<string>;
  readonly resolve: () => void;
}

/** Per PoC label: how many times each notice id reached the application, in arrival order. */
export class NoticeLedger {
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly arrivals = new Map<string, MessageRecord[]>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  /** Starts counting `client`'s 'notice' events under `label` (several clients may share a label: one application, reconnected). */
  watch(label: string, client: HotlineClient, onNotice?: (notice: MessageRecord) => void): void {
    const counts = this.countsOf(label);
    client.on('notice', (notice) => {
      counts.set(notice.id, (counts.get(notice.id) ?? 0) + 1);
      this.arrivalsOf(label).push(notice);
      for (const w of this.waiters.get(label) ?? []) if (this.hasAll(label, w.ids)) w.resolve();
      onNotice?.(notice);
    });
  }

  /** Times notice `id` reached the application of `label`. */
  count(label: string, id: string): number {
    return this.counts.get(label)?.get(id) ?? 0;
  }

  /** Notices in the order the application of `label` got them. */
  arrived(label: string): readonly MessageRecord[] {
    return this.arrivalsOf(label);
  }

  /** Sum over every label and id of the deliveries beyond the first. */
  duplicates(): number {
    let extra = 0;
    for (const counts of this.counts.values()) for (const n of counts.values()) extra += Math.max(0, n - 1);
    return extra;
  }

  /** Resolves once `label` has seen every id; rejects after `timeoutMs` naming how many are missing. */
  waitForAll(label: string, ids: Iterable<string>, timeoutMs: number): Promise<void> {
    const wanted = new Set(ids);
    if (this.hasAll(label, wanted)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let set = this.waiters.get(label);
      if (!set) this.waiters.set(label, (set = new Set()));
      const waiters = set;
      const waiter: Waiter = {
        ids: wanted,
        resolve: () => {
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        const missing = [...wanted].filter((id) => this.count(label, id) === 0);
        reject(new Error(`${label} is missing ${missing.length} of ${wanted.size} notices after ${timeoutMs} ms (first: ${missing[0] ?? '-'})`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  private hasAll(label: string, ids: ReadonlySet<string>): boolean {
    const counts = this.countsOf(label);
    for (const id of ids) if (!counts.has(id)) return false;
    return true;
  }

  private countsOf(label: string): Map<string, number> {
    let counts = this.counts.get(label);
    if (!counts) this.counts.set(label, (counts = new Map()));
    return counts;
  }

  private arrivalsOf(label: string): MessageRecord[] {
    let list = this.arrivals.get(label);
    if (!list) this.arrivals.set(label, (list = []));
    return list;
  }
}

/** Rows per message id in a PoC's history.db (opened read-only; close the client first). */
export function historyRowCounts(home: string, kinds: readonly string[] = ['notice']): Map<string, number> {
  const db = new Database(join(home, 'history.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(`SELECT id, COUNT(*) AS n FROM messages WHERE kind IN (${kinds.map(() => '?').join(',')}) GROUP BY id`)
      .all(...kinds) as { id: string; n: number }[];
    return new Map(rows.map((r) => [r.id, r.n]));
  } finally {
    db.close();
  }
}
