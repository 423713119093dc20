// The README's reviewer block, pasted on its own into a fresh copy of the clone: its first line brings up the quick start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blocks, readmeCopy, type ReadmeCopy } from '../helpers/readme.ts';

let copy: ReadmeCopy | null = null;
afterAll(async () => copy?.dispose());

describe('README, one section on its own', () => {
  it('the reviewer section runs from a fresh clone', async () => {
    copy = await readmeCopy();
    const result = await copy.run(blocks('Reviewers')[0] as string, 400_000);
    expect(result.out, result.out).toContain('README-OK');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/running the README's quick start first/);
    expect(result.out).toMatch(/GOOD bundle\.json/);
    expect(readFileSync(join(copy.dir, 'flash.csv'), 'utf8')).toMatch(/FLASH/);
  }, 420_000);
});
