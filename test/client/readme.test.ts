// The README is tested like code: its quick start, drill-charter and reviewer blocks, pasted into bash in a copy of
// the repository (on a free port instead of 7300), run the trust ceremony end to end and exit 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'hotline-readme-'));

/** The fenced sh blocks of the section whose heading starts with `heading`. */
function blocks(heading: string): string[] {
  const start = readme.indexOf(`## ${heading}`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 3);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('README', () => {
  it('runs the quick start, the drill charter amendment and the reviewer section as pasted', async () => {
    // A copy of the clone: every top-level entry linked, so the blocks' relative paths and `npx hotline` resolve.
    for (const entry of readdirSync(repo)) if (!entry.startsWith('.') || entry === '.ci') symlinkSync(join(repo, entry), join(work, entry));
    const port = await freePort();
    const quick = blocks('Quick start')[0] as string;
    // The drill run itself blocks until people answer: the test runs the lines before it (director, charter v2, check).
    const drill = (blocks('Drills')[0] as string).split('\n').filter((l) => !/drill run|drill-report/.test(l)).join('\n');
    const review = (blocks('Reviewers')[0] as string).split('\n').filter((l) => !/^\s+#/.test(l)).join('\n');
    const script = ['set -euo pipefail', quick.replace(/^npm install$/m, 'true # npm install: already done'), drill, review, 'kill $LISTEN $RELAY', 'wait $RELAY || true', 'echo README-OK']
      .join('\n')
      .replaceAll('7300', String(port))
      .replace('node bin/hotline.js relay', `node bin/hotline.js relay --port ${port}`)
      // npx only finds the package's own bin (a second of start-up each time): the same program, started directly.
      .replaceAll('npx hotline', 'node bin/hotline.js');
    writeFileSync(join(work, 'readme.sh'), script);
    const result = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn('bash', ['readme.sh'], { cwd: work, env: { ...process.env, HOTLINE_LOG_LEVEL: 'warn', HOTLINE_RELAY: '', HOTLINE_HOME: '', HOTLINE_PASSPHRASE: '' } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out });
      });
    });
    expect(result.out, result.out).toContain('README-OK');
    expect(result.code).toBe(0);
    // What the ceremony must have shown along the way.
    expect(result.out).toMatch(/signed US's roster v1/);
    expect(result.out).toMatch(/encrypted to the 1 roster member/);
    const listen = readFileSync(join(work, 'listen.log'), 'utf8');
    expect(listen).toMatch(/NOTICE US → CN/);
    expect(result.out).toMatch(/GOOD bundle\.json/);
    expect(result.out).toMatch(/witness statement\(s\) in the chain and [1-9]\d* kept by a PoC agree with it/);
    expect(result.out).toMatch(/US authority .* \(pinned\)/);
  }, 180_000);
});
