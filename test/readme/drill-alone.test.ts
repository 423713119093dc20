// The README's drill block, pasted on its own into a fresh copy of the clone: its first line brings up the quick start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { sectionAloneTest } from '../helpers/readme.ts';

sectionAloneTest('the drill section runs from a fresh clone', 'Drills', 0, (copy) => {
  expect(readFileSync(join(copy.dir, 'drill-report.md'), 'utf8')).toMatch(/Injects: 3; acknowledged: 3\b/);
});
