// Child processes and temp dirs the bench creates: tracked from spawn, and always killed / removed at the end, on error or SIGINT.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ManagedChild {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The last stderr lines, for error messages. */
  readonly stderrTail: string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<ManagedChild>();
const tempDirs = new Set<string>();

export interface SpawnSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

function keepTail(lines: string[], chunk: string): void {
  for (const line of chunk.split('\n')) {
    if (line.trim() === '') continue;
    lines.push(line);
    if (lines.length > 50) lines.shift();
  }
}

/** Spawns a tracked child with piped stdout/stderr. */
export function spawnChild(spec: SpawnSpec): ManagedChild {
  const proc = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
  const stderrTail: string[] = [];
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => keepTail(stderrTail, chunk));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let gone = false;
  const child: ManagedChild = {
    name: spec.name,
    pid: proc.pid,
    process: proc,
    exited,
    stderrTail,
    stop: async (graceMs = 5000) => {
      if (!gone) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
  void exited.then(() => {
    gone = true;
  });
  children.add(child);
  return child;
}

/** Resolves with the first stdout line that `parse` accepts; rejects if the child exits or `timeoutMs` passes first. */
export function waitForLine<T>(child: ManagedChild, parse: (line: string) => T | null, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buffer = '';
    const stdout = child.process.stdout;
    if (!stdout) return reject(new Error(`${child.name} has no stdout`));
    const finish = (error: Error | null, value?: T) => {
      clearTimeout(timer);
      stdout.off('data', onData);
      if (error) reject(error);
      else resolve(value as T);
    };
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const value = parse(buffer.slice(0, nl).trim());
        buffer = buffer.slice(nl + 1);
        if (value !== null) return finish(null, value);
        nl = buffer.indexOf('\n');
      }
    };
    const timer = setTimeout(() => finish(new Error(`${child.name} was not ready after ${timeoutMs} ms: ${child.stderrTail.join(' | ')}`)), timeoutMs);
    stdout.on('data', onData);
    void child.exited.then((code) => finish(new Error(`${child.name} exited (code ${code}) before it was ready: ${child.stderrTail.join(' | ')}`)));
  });
}

/** A fresh temp dir, removed by `cleanupAll`. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hotline-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Synchronous last resort (process exit, signals): SIGKILL every child still running, remove every temp dir. */
export function cleanupAll(): void {
  for (const child of children) {
    try {
      child.process.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Installs exit, SIGINT/SIGTERM and crash handlers that clean up before the bench process ends. */
export function installCleanupHandlers(): void {
  process.on('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping the bench, killing ${children.size} child process(es)`);
      cleanupAll();
      process.exit(130);
    });
  }
}

/** How many children are still tracked (for the final check that nothing is left running). */
export function runningChildren(): string[] {
  return [...children].map((c) => `${c.name} (pid ${c.pid})`);
}
