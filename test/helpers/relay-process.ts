// A relay child process for reliability tests: a fixed port and data dir across kill -9 and restart, its logs captured, its RSS read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HOTLINE_BIN = fileURLToPath(new URL('../../bin/hotline.js', import.meta.url));

/** Every relay process started here and not yet exited: afterAll hooks kill what is left. */
const liveRelays = new Set<ChildProcess>();

/** A port that was free a moment ago on 127.0.0.1 (the relay is then started on it, and restarted on it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RelayProcessOptions {
  readonly dataDir: string;
  readonly port: number;
  /** pino level of the relay's own log (stderr); `info` logs every connection. */
  readonly logLevel?: string;
  readonly readyTimeoutMs?: number;
  /** More `hotline relay` flags (e.g. --heartbeat 10m). */
  readonly args?: readonly string[];
}

export interface RelayProcess {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
  readonly dataDir: string;
  /** The relay's identity key id, from its ready line; the same after every restart on this data dir. */
  readonly relayKid: string;
  readonly adminToken: string;
  /** Wall-clock ms when it was spawned and when it printed its ready line. */
  readonly spawnedAt: number;
  readonly readyAt: number;
  /** Everything the process wrote to stdout and stderr so far. */
  log(): string;
  /** Resident set size in bytes (VmRSS of /proc/PID/status). */
  rssBytes(): number;
  /** kill -9, resolved once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful stop: commits finish, a checkpoint is signed), resolved with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Starts `hotline relay --port P --data DIR --json` and waits for its JSON ready line. */
export async function spawnRelay(options: RelayProcessOptions): Promise<RelayProcess> {
  const spawnedAt = Date.now();
  const proc = spawn(process.execPath, [HOTLINE_BIN, 'relay', '--port', String(options.port), '--data', options.dataDir, '--json', ...(options.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOTLINE_LOG_LEVEL: options.logLevel ?? 'warn' },
  });
  liveRelays.add(proc);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      liveRelays.delete(proc);
      resolve(code);
    });
  });
  let log = '';
  let stdoutLine = '';
  const ready = new Promise<{ url: string; relay: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`relay did not print its ready line within ${options.readyTimeoutMs ?? 20_000} ms:\n${log.slice(-2000)}`)),
      options.readyTimeoutMs ?? 20_000,
    );
    proc.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log += text;
      stdoutLine += text;
      for (let nl = stdoutLine.indexOf('\n'); nl >= 0; nl = stdoutLine.indexOf('\n')) {
        const line = stdoutLine.slice(0, nl);
        stdoutLine = stdoutLine.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as { url?: unknown; relay?: unknown };
          if (typeof parsed.url === 'string' && typeof parsed.relay === 'string') {
            clearTimeout(timer);
            resolve({ url: parsed.url, relay: parsed.relay });
          }
        } catch {
          // not the ready line
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code}) before it was ready:\n${log.slice(-2000)}`));
    });
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString('utf8');
  });
  let started: { url: string; relay: string };
  try {
    started = await ready;
  } catch (error) {
    proc.kill('SIGKILL');
    throw error;
  }
  const pid = proc.pid ?? -1;
  return {
    pid,
    port: options.port,
    url: started.url,
    httpUrl: started.url.replace(/^ws/, 'http'),
    dataDir: options.dataDir,
    relayKid: started.relay,
    adminToken: readFileSync(join(options.dataDir, 'admin.token'), 'utf8').trim(),
    spawnedAt,
    readyAt: Date.now(),
    log: () => log,
    rssBytes: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
      if (kb === undefined) throw new Error(`no VmRSS for relay process ${pid}`);
      return Number(kb) * 1024;
    },
    kill9: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    stop: async (timeoutMs = 15_000) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** kill -9 every relay process started here that is still running (for afterAll, whatever happened). */
export function killAllRelays(): void {
  for (const proc of liveRelays) proc.kill('SIGKILL');
}

/** Megabytes, one decimal, for printed figures. */
export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
