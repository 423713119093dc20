// The README's reviewer block, pasted on its own into a fresh copy of the clone: its first line brings up the quick start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { sectionAloneTest } from '../helpers/readme.ts';

sectionAloneTest('the reviewer section runs from a fresh clone', 'Reviewers', 0, (copy, out) => {
  expect(out).toMatch(/GOOD bundle\.json/);
  expect(readFileSync(join(copy.dir, 'flash.csv'), 'utf8')).toMatch(/FLASH/);
});
