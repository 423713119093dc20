// The README is tested like code: its sh blocks, pasted into bash in a copy of the repository, must run as written.
// A copy per script: every top-level entry linked, except README.md and scripts/ (copied, with the relay on a free port
// and `npx hotline` started directly: npx only finds the package's own bin, a second of start-up each time).
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

export const repo = fileURLToPath(new URL('../..', import.meta.url));
export const readme = readFileSync(join(repo, 'README.md'), 'utf8');

/** The fenced sh blocks of the section whose heading starts with `heading`. */
export function blocks(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 4);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

/** Every `## ` heading of the README, in order. */
export function sections(): string[] {
  return [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1] as string);
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** What a README text becomes in the copy: the relay on `port`, the CLI started directly. */
export function localised(text: string, port: number): string {
  return text
    .replaceAll('7300', String(port))
    .replaceAll('npx hotline', 'node bin/hotline.js')
    .replaceAll(/^npm install$/gm, 'true # npm install: already done');
}

export interface ReadmeCopy {
  readonly dir: string;
  readonly port: number;
  /** Runs `script` with bash in the copy; resolves with its exit code and everything it printed. */
  run(script: string, timeoutMs: number): Promise<{ code: number; out: string }>;
  /** Stops what the scripts left running (the relay, the listener) and removes the copy. */
  dispose(): Promise<void>;
}

export async function readmeCopy(): Promise<ReadmeCopy> {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-readme-'));
  const port = await freePort();
  for (const entry of readdirSync(repo)) {
    if (entry === 'README.md' || entry === 'scripts' || (entry.startsWith('.') && entry !== '.ci')) continue;
    symlinkSync(join(repo, entry), join(dir, entry));
  }
  writeFileSync(join(dir, 'README.md'), localised(readme, port));
  cpSync(join(repo, 'scripts'), join(dir, 'scripts'), { recursive: true });
  const demoEnv = join(dir, 'scripts', 'demo-env.sh');
  writeFileSync(demoEnv, localised(readFileSync(demoEnv, 'utf8'), port));
  const env = { ...process.env, HOTLINE_LOG_LEVEL: 'warn', HOTLINE_RELAY: '', HOTLINE_HOME: '', HOTLINE_PASSPHRASE: '', HOTLINE_DATA: '' };
  const run = (script: string, timeoutMs: number) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      writeFileSync(join(dir, 'readme.sh'), ['set -euo pipefail', localised(script, port), 'echo README-OK'].join('\n'));
      const child = spawn('bash', ['readme.sh'], { cwd: dir, env });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out });
      });
    });
  const dispose = async () => {
    await run('source scripts/demo-env.sh && demo_reset', 30_000);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, port, run, dispose };
}

/**
 * One README section pasted on its own into a fresh copy (one test file per section, so that they run side by side):
 * `check` gets the copy and what the block printed once it ran to its end, exit 0, having brought up the quick start.
 */
export function sectionAloneTest(title: string, heading: string, index: number, check: (copy: ReadmeCopy, out: string) => void): void {
  let copy: ReadmeCopy | null = null;
  afterAll(async () => copy?.dispose());
  describe('README, one section on its own', () => {
    it(title, async () => {
      copy = await readmeCopy();
      const result = await copy.run(blocks(heading)[index] as string, 400_000);
      expect(result.out, result.out).toContain('README-OK');
      expect(result.code).toBe(0);
      expect(result.out).toMatch(/running the README's quick start first/);
      check(copy, result.out);
    }, 420_000);
  });
}
