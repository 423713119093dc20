// The README's drill block, pasted on its own into a fresh copy of the clone: its first line brings up the quick start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blocks, readmeCopy, type ReadmeCopy } from '../helpers/readme.ts';

let copy: ReadmeCopy | null = null;
afterAll(async () => copy?.dispose());

describe('README, one section on its own', () => {
  it('the drill section runs from a fresh clone', async () => {
    copy = await readmeCopy();
    const result = await copy.run(blocks('Drills')[0] as string, 400_000);
    expect(result.out, result.out).toContain('README-OK');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/running the README's quick start first/);
    expect(readFileSync(join(copy.dir, 'drill-report.md'), 'utf8')).toMatch(/Injects: 3; acknowledged: 3\b/);
  }, 420_000);
});
