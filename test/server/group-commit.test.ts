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
});
