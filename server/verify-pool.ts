// Envelope signature checks on a pool of worker threads, so that verification scales past the relay's one main thread.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import { HotlineError, verifyEnvelope, verifyWitness, type Envelope, type EnvelopeDigest, type ErrorCode, type WitnessStatement } from '../shared/index.ts';
import type { Logger } from './logger.ts';

/**
 * What the main thread posts to a worker (in batches): JSON.stringify of an envelope zod has already accepted, and a
 * request id. A string crosses threads as one copy; the same text is what the relay stores.
 */
export interface VerifyRequest {
  readonly id: number;
  readonly json: string;
  /** What `json` is: an envelope (the default) or a PoC's witness statement. */
  readonly kind?: 'witness';
}

/** What a worker answers for each request, in the order received. */
export type VerifyOutcome =
  | { readonly id: number; readonly ok: true; readonly bodyHash: string; readonly hash: string }
  | { readonly id: number; readonly ok: false; readonly code: ErrorCode; readonly message: string };

/** Checks envelope signatures; resolves with the digest or rejects with the HotlineError verifyEnvelope would throw. */
export interface EnvelopeVerifier {
  /** Worker threads in use; 0 means verification runs inline on the caller's thread. */
  readonly threads: number;
  /** Requests handed to workers and not yet answered. */
  readonly inFlight: number;
  /** How the worker code is loaded: one esbuild bundle, or tsx's hooks (the fallback), or no workers at all. */
  readonly loader: 'bundle' | 'tsx' | 'inline';
  /** `json` must be JSON.stringify(envelope). */
  verify(envelope: Envelope, json: string): Promise<EnvelopeDigest>;
  /** A witness statement's signature (one per PoC ack): rejects with BAD_SIGNATURE. */
  verifyWitness(statement: WitnessStatement): Promise<void>;
  close(): Promise<void>;
}

/** Verification on the calling thread: for `--verify-threads 0`, and the baseline the pool is measured against. */
class InlineVerifier implements EnvelopeVerifier {
  readonly threads = 0;
  readonly inFlight = 0;
  readonly loader = 'inline';

  verify(envelope: Envelope): Promise<EnvelopeDigest> {
    try {
      return Promise.resolve(verifyEnvelope(envelope));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  verifyWitness(statement: WitnessStatement): Promise<void> {
    try {
      verifyWitness(statement);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Waiter {
  resolve(digest: EnvelopeDigest): void;
  reject(error: HotlineError): void;
}

let workerCode: { readonly code: string; readonly bundled: boolean } | null = null;

/**
 * The worker's code. Bundled once per process with esbuild into one CommonJS script: server/verify-worker.ts and what
 * it imports (shared/envelope-verify.ts and the libsodium under it; no zod), about 0.5 MB, evaluated by each worker.
 * Each worker then costs about 20 MB of RSS; loading the TypeScript through tsx's hooks instead costs about 60 MB
 * (on Node 20 a worker does not inherit the loader of the thread that started it, so each one would start its own).
 * That is the fallback should bundling fail.
 */
function workerSource(logger: Logger): { readonly code: string; readonly bundled: boolean } {
  if (workerCode) return workerCode;
  const entry = fileURLToPath(new URL('./verify-worker.ts', import.meta.url));
  try {
    const out = buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent' });
    const text = out.outputFiles[0]?.text;
    if (!text) throw new Error('esbuild produced no output');
    workerCode = { code: text, bundled: true };
  } catch (err) {
    logger.warn({ err }, 'verify worker could not be bundled; loading it through tsx (about 60 MB per worker instead of 20)');
    const require = createRequire(import.meta.url);
    const tsxApi = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
    const url = pathToFileURL(entry).href;
    workerCode = { code: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, bundled: false };
  }
  return workerCode;
}

/** One worker thread: requests are posted in batches (one message per event-loop turn) and answered in order. */
class VerifyThread {
  private worker: Worker;
  private readonly waiting = new Map<number, Waiter>();
  private batch: VerifyRequest[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly code: string,
    private readonly logger: Logger,
  ) {
    this.worker = this.spawn();
  }

  get load(): number {
    return this.waiting.size;
  }

  private spawn(): Worker {
    // Small heap limits: a worker holds one batch of envelopes at a time; past them it dies and is replaced (see exit).
    const worker = new Worker(this.code, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 128 } });
    worker.unref();
    worker.on('message', (outcomes: readonly VerifyOutcome[]) => this.settle(outcomes));
    worker.on('error', (err) => this.logger.error({ err }, 'verify worker failed'));
    worker.on('exit', (code) => {
      if (this.closed) return;
      // Whatever it held is answered INTERNAL (the sender may resend: ids make that safe) and a new worker takes over.
      this.logger.error({ code, lost: this.waiting.size }, 'verify worker exited; starting another');
      this.failAll(new HotlineError('INTERNAL', 'signature check was interrupted; send again'));
      this.worker = this.spawn();
    });
    return worker;
  }

  submit(id: number, json: string, waiter: Waiter, kind?: 'witness'): void {
    this.waiting.set(id, waiter);
    this.batch.push(kind ? { id, json, kind } : { id, json });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Frames that arrive in the same poll phase go over in one message.
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0 || this.closed) return;
    const batch = this.batch;
    this.batch = [];
    this.worker.postMessage(batch);
  }

  private settle(outcomes: readonly VerifyOutcome[]): void {
    for (const outcome of outcomes) {
      const waiter = this.waiting.get(outcome.id);
      if (!waiter) continue;
      this.waiting.delete(outcome.id);
      if (outcome.ok) waiter.resolve({ bodyHash: outcome.bodyHash, hash: outcome.hash });
      else waiter.reject(new HotlineError(outcome.code, outcome.message));
    }
  }

  private failAll(error: HotlineError): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
    this.batch = [];
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new HotlineError('SHUTTING_DOWN'));
    await this.worker.terminate();
  }
}

class PoolVerifier implements EnvelopeVerifier {
  private readonly pool: VerifyThread[];
  private nextId = 1;
  readonly loader: 'bundle' | 'tsx';

  constructor(
    readonly threads: number,
    logger: Logger,
  ) {
    const source = workerSource(logger);
    this.loader = source.bundled ? 'bundle' : 'tsx';
    this.pool = Array.from({ length: threads }, () => new VerifyThread(source.code, logger));
  }

  get inFlight(): number {
    return this.pool.reduce((n, t) => n + t.load, 0);
  }

  verify(_envelope: Envelope, json: string): Promise<EnvelopeDigest> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => this.leastLoaded().submit(id, json, { resolve, reject }));
  }

  verifyWitness(statement: WitnessStatement): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => this.leastLoaded().submit(id, JSON.stringify(statement), { resolve: () => resolve(), reject }, 'witness'));
  }

  /** The least loaded thread: per-session order is kept by the caller, not by pinning a session to a thread. */
  private leastLoaded(): VerifyThread {
    let target = this.pool[0] as VerifyThread;
    for (const t of this.pool) if (t.load < target.load) target = t;
    return target;
  }

  async close(): Promise<void> {
    await Promise.all(this.pool.map((t) => t.close()));
  }
}

/** `threads` worker threads, or inline verification when 0. */
export function createVerifier(threads: number, logger: Logger): EnvelopeVerifier {
  if (!Number.isInteger(threads) || threads < 0) throw new Error(`verify threads must be a whole number ≥ 0, got ${threads}`);
  return threads === 0 ? new InlineVerifier() : new PoolVerifier(threads, logger);
}
