// The README's sections pasted in order into one shell, as a newcomer reads them, then the quick start pasted again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blocks, readmeCopy, type ReadmeCopy } from '../helpers/readme.ts';

let copy: ReadmeCopy | null = null;
afterAll(async () => copy?.dispose());

describe('README, pasted in order', () => {
  it('runs the quick start, the drill, the communication check and the reviewer section in one shell', async () => {
    copy = await readmeCopy();
    const quick = blocks('Quick start')[0] as string;
    const [drill, check] = blocks('Drills') as [string, string];
    const review = blocks('Reviewers')[0] as string;
    const result = await copy.run([quick, drill, check, review].join('\n'), 400_000);
    expect(result.out, result.out).toContain('README-OK');
    expect(result.code).toBe(0);
    // What the ceremony must have shown along the way: the quick start ran once (the later sections found it up).
    expect(result.out).not.toMatch(/running the README's quick start first/);
    expect(result.out).toMatch(/signed US's roster v1/);
    expect(result.out).toMatch(/encrypted to the 1 roster member/);
    expect(readFileSync(join(copy.dir, '.demo', 'listen.log'), 'utf8')).toMatch(/NOTICE US → CN/);
    // The drill ran to its end with every inject acknowledged (on a loaded machine one may be late: FLASH is 10 s).
    expect(readFileSync(join(copy.dir, 'drill-report.md'), 'utf8')).toMatch(/Injects: 3; acknowledged: 3\b/);
    // The check: both PoCs answered.
    expect(result.out).toMatch(/2 of 2 answered/);
    expect(result.out).toMatch(/GOOD bundle\.json/);
    expect(result.out).toMatch(/witness statement\(s\) in the chain and [1-9]\d* kept by a PoC agree with it/);
    expect(result.out).toMatch(/US authority .* \(pinned\)/);
    // Secrets: the relay's log names where the admin token is, never the token itself.
    const token = readFileSync(join(copy.dir, '.demo', 'relay', 'admin.token'), 'utf8').trim();
    expect(readFileSync(join(copy.dir, '.demo', 'relay.log'), 'utf8')).not.toContain(token);
    expect(result.out).not.toContain(token);
  }, 420_000);

  it('runs the quick start again when it is pasted a second time (it stops and removes what the first paste made)', async () => {
    if (!copy) throw new Error('the first paste did not run');
    const before = readFileSync(join(copy.dir, '.demo', 'relay', 'admin.token'), 'utf8').trim();
    const result = await copy.run(blocks('Quick start')[0] as string, 300_000);
    expect(result.out, result.out).toContain('README-OK');
    expect(result.code).toBe(0);
    expect(readFileSync(join(copy.dir, '.demo', 'relay', 'admin.token'), 'utf8').trim()).not.toBe(before);
    expect(result.out).toMatch(/time to acknowledge \S+ — within deadline/);
  }, 320_000);
});
