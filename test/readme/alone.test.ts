// Each README section pasted on its own into a fresh copy of the clone: a newcomer who skips ahead gets a working
// section (its first line brings up the quick start), and `npm start` is the relay on the embedded SQLite default.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blocks, readmeCopy, sections, type ReadmeCopy } from '../helpers/readme.ts';

let copy: ReadmeCopy | null = null;
afterEach(async () => {
  await copy?.dispose();
  copy = null;
});

describe('README, each section on its own', () => {
  it('has a runnable block in every section a newcomer pastes, and says which sections have none', () => {
    // Benchmarks take minutes and "Two commands" runs the test suite itself: checked below, not pasted.
    const withBlocks = sections().filter((s) => blocks(s).length > 0);
    expect(withBlocks).toEqual(['Two commands', 'Quick start: two states, one FLASH notice', 'Drills and communication checks', 'Reviewers']);
    // Every later section starts by bringing up the quick start, so it runs on its own.
    for (const block of [...blocks('Drills'), ...blocks('Reviewers')]) expect(block.split('\n')[0]).toMatch(/^source scripts\/demo-env\.sh --up/);
  });

  it('`npm start` runs the relay on the embedded SQLite default', async () => {
    const [first] = (blocks('Two commands')[0] as string).split('\n');
    expect(first).toMatch(/^npm install && npm start\b/);
    copy = await readmeCopy();
    const dir = copy.dir;
    const out = await new Promise<string>((resolve, reject) => {
      // The README's `npm start`, on a free port (7300 may be taken on a shared machine).
      // Its own process group: npm runs the relay as a child, and the whole group is stopped at the end.
      const child = spawn('npm', ['start', '--', '--port', String(copy?.port)], { cwd: dir, env: { ...process.env, HOTLINE_DATA: '' }, detached: true });
      const stop = (signal: NodeJS.Signals) => {
        try {
          process.kill(-(child.pid as number), signal);
        } catch {
          // already gone
        }
      };
      let text = '';
      const timer = setTimeout(() => {
        stop('SIGKILL');
        reject(new Error(`npm start did not say it listens within 30 s:\n${text}`));
      }, 30_000);
      const onData = (d: Buffer) => {
        text += d.toString();
        if (/listening on ws:\/\//.test(text)) {
          clearTimeout(timer);
          child.on('close', () => resolve(text));
          stop('SIGTERM');
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    });
    expect(out).toMatch(/listening on ws:\/\/127\.0\.0\.1:\d+/);
    // Its store and admin token are in ./.hotline-relay; the token is in the file, not in what was printed (no TTY).
    const token = readFileSync(join(dir, '.hotline-relay', 'admin.token'), 'utf8').trim();
    expect(out).not.toContain(token);
  }, 60_000);
});
