// Pre-built envelope pools: every sender's notices signed before the run (distinct ids, seq 1..n), built on worker threads.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Level, SignedPrekey, TrustRefs } from '../shared/index.ts';

/** What one worker builds for one sender: `count` notices from seq 1 to one recipient. */
export interface BuildTask {
  readonly key: string;
  readonly senderSeed: number[];
  readonly recipientKid: string;
  readonly recipientPrekey: SignedPrekey;
  readonly channel: string;
  readonly fromState: string;
  readonly toState: string;
  readonly level: Level;
  readonly count: number;
  readonly plaintextBytes: number;
  /** The charter and roster versions the relay holds for `channel` (bench/trust-setup.ts): named by every header (v2). */
  readonly trust: TrustRefs;
}

/** One sender's frames, in seq order: frames[i] is `{"type":"send","rid":id,"envelope":…}` for ids[i]. */
export interface BuiltPool {
  readonly key: string;
  readonly frames: string[];
  readonly ids: string[];
}

type WorkerReport = { type: 'progress'; built: number } | { type: 'pool'; pool: BuiltPool } | { type: 'done' };

/** The worker entry, loaded through tsx's ESM hooks (workers do not inherit the tsx loader on Node 20). */
function bootCode(): string {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./envelope-worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
}

function runWorker(tasks: BuildTask[], onBuilt: (n: number) => void, onPool?: (pool: BuiltPool) => void): Promise<BuiltPool[]> {
  return new Promise((resolve, reject) => {
    const pools: BuiltPool[] = [];
    const worker = new Worker(bootCode(), { eval: true, workerData: tasks });
    worker.on('message', (report: WorkerReport) => {
      if (report.type === 'progress') onBuilt(report.built);
      else if (report.type === 'pool') {
        pools.push(report.pool);
        onPool?.(report.pool);
      } else {
        void worker.terminate();
        resolve(pools);
      }
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (pools.length < tasks.length) reject(new Error(`envelope worker exited (code ${code}) after ${pools.length} of ${tasks.length} pools`));
    });
  });
}

/**
 * Builds all pools on up to `threads` workers; `onProgress` gets the running total of envelopes built, and `onPool`
 * (when given) each pool as soon as its worker finished it, so a consumer can start before the last pool is built.
 */
export async function buildPools(
  tasks: readonly BuildTask[],
  onProgress: (built: number, total: number) => void,
  threads = Math.max(1, availableParallelism()),
  onPool?: (pool: BuiltPool) => void,
): Promise<Map<string, BuiltPool>> {
  const total = tasks.reduce((n, t) => n + t.count, 0);
  const shares: BuildTask[][] = Array.from({ length: Math.min(threads, tasks.length) }, () => []);
  // Largest first onto the least-loaded worker keeps the threads finishing together.
  const loads = shares.map(() => 0);
  for (const task of [...tasks].sort((a, b) => b.count - a.count)) {
    const i = loads.indexOf(Math.min(...loads));
    shares[i]?.push(task);
    loads[i] = (loads[i] ?? 0) + task.count;
  }
  let built = 0;
  const results = await Promise.all(
    shares.map((share) =>
      runWorker(
        share,
        (n) => {
          built += n;
          onProgress(built, total);
        },
        onPool,
      ),
    ),
  );
  return new Map(results.flat().map((p) => [p.key, p]));
}
