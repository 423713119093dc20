// The README's communication-check block, pasted on its own into a fresh copy of the clone: its first line brings up the quick start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { sectionAloneTest } from '../helpers/readme.ts';

sectionAloneTest('the communication check runs from a fresh clone', 'Drills', 1, (copy, out) => {
  expect(out).toMatch(/2 of 2 answered/);
  expect(readFileSync(join(copy.dir, '.demo', 'relay.log'), 'utf8')).toMatch(/listening/);
});
