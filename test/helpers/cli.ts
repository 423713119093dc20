// Runs the real `hotline` CLI as separate processes: one-shot commands, long-running listeners, and a relay process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyAuthorityFingerprint } from './trust.ts';

export const HOTLINE_BIN = fileURLToPath(new URL('../../bin/hotline.js', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliEnv {
  readonly home?: string;
  readonly relay?: string;
  readonly passphrase?: string;
  readonly data?: string;
  readonly extra?: Record<string, string>;
}

function envFor(e: CliEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', HOTLINE_LOG_LEVEL: 'warn' };
  delete env.HOTLINE_HOME;
  delete env.HOTLINE_RELAY;
  delete env.HOTLINE_PASSPHRASE;
  delete env.HOTLINE_ADMIN_TOKEN;
  if (e.home) env.HOTLINE_HOME = e.home;
  if (e.relay) env.HOTLINE_RELAY = e.relay;
  if (e.passphrase !== undefined) env.HOTLINE_PASSPHRASE = e.passphrase;
  if (e.data) env.HOTLINE_DATA = e.data;
  return { ...env, ...(e.extra ?? {}) };
}

/** Runs one command to completion. */
export function hotline(args: readonly string[], e: CliEnv = {}, input?: string, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HOTLINE_BIN, ...args], { env: envFor(e), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hotline ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** Runs a command that must succeed and prints JSON; returns the parsed document. */
export async function hotlineJson<T = Record<string, unknown>>(args: readonly string[], e: CliEnv = {}): Promise<T> {
  const r = await hotline([...args, '--json'], e);
  if (r.code !== 0) throw new Error(`hotline ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A long-running CLI process (listen, relay) whose NDJSON stdout lines are collected. */
export class CliProcess {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private readonly child: ChildProcess;
  private exited: Promise<number>;

  constructor(args: readonly string[], e: CliEnv = {}) {
    this.child = spawn(process.execPath, [HOTLINE_BIN, ...args], { env: envFor(e), stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    this.child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ type: 'text', text: line });
        }
      }
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with the first collected line matching `match`. */
  async waitFor(match: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const found = this.lines.find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out; lines: ${JSON.stringify(this.lines).slice(0, 2000)}\nstderr: ${this.stderr.slice(0, 2000)}`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  get done(): Promise<number> {
    return this.exited;
  }
}

export interface RelayProcess extends CliProcess {
  readonly url: string;
  readonly adminToken: string;
}

/** Starts `hotline relay --port 0 --data DIR --json` and waits for its ready line. */
export async function startRelayProcess(dataDir: string, extraArgs: readonly string[] = [], port = 0): Promise<{ proc: CliProcess; url: string; adminToken: string }> {
  const proc = new CliProcess(['relay', '--port', String(port), '--data', dataDir, '--json', ...extraArgs]);
  const ready = await proc.waitFor((l) => typeof l.url === 'string', 20_000);
  return { proc, url: ready.url as string, adminToken: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim() };
}

/** A PoC (or director, reviewer) made the way a person would: `admin invite`, then `init` and `join` in its own HOTLINE_HOME. */
export async function enrolWithCli(root: string, relayUrl: string, admin: CliEnv, label: string, state: string, role: string, name: string): Promise<CliEnv> {
  const env: CliEnv = { home: join(root, label), relay: relayUrl, passphrase: `pass-${label}: amber quarry lantern` };
  const { invite } = await hotlineJson<{ invite: string }>(['admin', 'invite', '--state', state, '--role', role], admin);
  await hotlineJson(['init', '--name', name], env);
  const pin = role === 'director' ? [] : ['--authority', await readyAuthorityFingerprint(state)];
  const joined = await hotlineJson<{ state: string; role: string }>(['join', invite, ...pin], env);
  if (joined.state !== state || joined.role !== role) throw new Error(`${label} joined as ${joined.role} of ${joined.state}`);
  return env;
}
