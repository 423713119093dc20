// Group commit: one transaction per batch, refused jobs rolled back alone, urgent jobs first in their own order.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../../server/group-commit.ts';
import { RelayStore } from '../../server/store.ts';

let store: RelayStore;
let rollbacks: number;

beforeEach(() => {
  store = new RelayStore(':memory:');
  rollbacks = 0;
});

afterEach(() => store.close());

function commits(): GroupCommit {
  return new GroupCommit(store, 1000, { onCommit: () => {}, onRollback: () => {}, onJobRollback: () => rollbacks++ });
}

describe('group-commit', () => {
  it('runs urgent jobs first in the next commit, keeping their own order, then the others in theirs', async () => {
    const gc = commits();
    const ran: string[] = [];
    const jobs = [
      gc.enqueue(() => ran.push('a')),
      gc.enqueue(() => ran.push('u1'), { urgent: true }),
      gc.enqueue(() => ran.push('b')),
      gc.enqueue(() => ran.push('u2'), { urgent: true }),
    ];
    await Promise.all(jobs);
    expect(ran).toEqual(['u1', 'u2', 'a', 'b']);
  });

  it('rolls back a job that throws on its own, tells the owner, and commits the rest', async () => {
    const gc = commits();
    const ok = gc.enqueue(() => store.setMeta('kept', '1'));
    const refused = gc.enqueue(() => {
      store.setMeta('dropped', '1');
      throw new Error('refused');
    });
    await expect(refused).rejects.toThrow('refused');
    await ok;
    expect(store.getMeta('kept')).toBe('1');
    expect(store.getMeta('dropped')).toBeNull();
    expect(rollbacks).toBe(1);
  });

  it('stops a commit once its jobs have used the time budget, and commits the rest in later turns, in order', async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit(store, 1000, { onCommit: (_s, n) => sizes.push(n), onRollback: () => {} }, 5);
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const ran: string[] = [];
    const jobs = Array.from({ length: 12 }, (_, i) => gc.enqueue(() => (busy(2), ran.push(`j${i}`), store.setMeta(`j${i}`, '1'))));
    // Queued while the first commit is waiting: an urgent job still goes ahead of everything not yet run.
    const urgent = gc.enqueue(() => ran.push('u'), { urgent: true });
    await Promise.all([...jobs, urgent]);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(sizes.every((n) => n <= 4)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(13);
    expect(ran[0]).toBe('u');
    expect(ran.slice(1)).toEqual(jobs.map((_, i) => `j${i}`));
    for (let i = 0; i < 12; i++) expect(store.getMeta(`j${i}`)).toBe('1');
  });
});
