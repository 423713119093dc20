// bin/hotline.js runs the CLI from an esbuild bundle of client/ and shared/, rebuilt whenever a source file changes:
// a stale bundle would run old code, so the test changes a source file's time and checks the bundle follows.
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hotline } from '../helpers/cli.ts';
import { repo } from '../helpers/readme.ts';

const stampFile = join(repo, 'node_modules', '.hotline-cli', 'cli.stamp');
const bundleFile = join(repo, 'node_modules', '.hotline-cli', 'cli.mjs');
const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;

describe('the CLI bundle', () => {
  it('is rebuilt when a source file changes, and runs the same CLI', async () => {
    expect((await hotline(['--version'])).stdout.trim()).toBe(version);
    const before = readFileSync(stampFile, 'utf8');
    // A source file "edited" now: its modification time moves past the bundle's.
    const source = join(repo, 'client', 'cli', 'format.ts');
    const later = new Date(Math.max(Date.now(), statSync(bundleFile).mtimeMs) + 2000);
    utimesSync(source, later, later);
    const after = await hotline(['--version']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout.trim()).toBe(version);
    expect(readFileSync(stampFile, 'utf8')).not.toBe(before);
    expect(statSync(bundleFile).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('runs from the TypeScript sources when asked (HOTLINE_NO_BUNDLE), with the same answers', async () => {
    const viaTsx = await hotline(['--version'], { extra: { HOTLINE_NO_BUNDLE: '1' } });
    expect(viaTsx.code, viaTsx.stderr).toBe(0);
    expect(viaTsx.stdout.trim()).toBe(version);
    const help = await hotline(['--help'], { extra: { HOTLINE_NO_BUNDLE: '1' } });
    expect(help.stdout).toBe((await hotline(['--help'])).stdout);
  });
});
