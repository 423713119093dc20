// One CPU profile of the relay under max load: node --cpu-prof on the spawned relay's command line, then a summary by category.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTempDir, removeTempDir } from './children.ts';
import { summariseProfile, type ProfileSummary, type ProfileWindow } from './cpu-profile.ts';
import type { BuiltPool } from './envelope-pool.ts';
import { startPeer } from './peers.ts';
import type { BenchPair } from './population.ts';
import { info, phase } from './progress.ts';
import { runLoadStep } from './steps.ts';
import type { ChannelTrust } from './trust-setup.ts';

export interface ProfileInput {
  readonly pairs: readonly BenchPair[];
  readonly pools: ReadonlyMap<string, BuiltPool>;
  readonly trust: readonly ChannelTrust[];
  readonly inFlightPerPair: number;
  readonly durationMs: number;
  /** Where the raw .cpuprofile is kept for Chrome DevTools / speedscope. */
  readonly keepAs: string;
}

/**
 * Node writes one profile per thread, named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; tsx's module hooks run on
 * a thread of their own. The relay's work is on the main thread, thread id 0.
 */
function mainThreadProfile(files: readonly string[]): string | null {
  const profiles = files.filter((f) => f.endsWith('.cpuprofile'));
  return profiles.find((f) => f.split('.')[4] === '0') ?? null;
}

export async function profileRelay(input: ProfileInput): Promise<ProfileSummary> {
  phase(`profile: relay under max load for ${input.durationMs / 1000}s with --cpu-prof`);
  const dir = makeTempDir('cpuprof');
  try {
    const server = await startPeer('hotline', {
      pairs: input.pairs,
      mosquittoBinary: null,
      trust: input.trust,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    let throughput = 0;
    let window: ProfileWindow | null = null;
    try {
      const load = await runLoadStep({
        label: 'profiled hotline max',
        server,
        pairs: input.pairs,
        pools: input.pools,
        offered: { kind: 'max', inFlightPerPair: input.inFlightPerPair },
        durationMs: input.durationMs,
        warmupMs: 1000,
        drainMs: 10_000,
      });
      throughput = load.throughputPerSec;
      window = { fromUs: load.windowHrUs.from, toUs: load.windowHrUs.to, delivered: load.deliveredInWindow };
    } finally {
      // SIGTERM: the relay exits through process.exit, which is when node writes the profile.
      await server.stop();
    }
    const file = mainThreadProfile(readdirSync(dir));
    if (!file) throw new Error('the relay wrote no main-thread .cpuprofile (did it exit through a signal it does not handle?)');
    mkdirSync(dirname(input.keepAs), { recursive: true });
    copyFileSync(join(dir, file), input.keepAs);
    const summary = summariseProfile(input.keepAs, throughput, window);
    info(`profile (${summary.busySec}s busy of ${summary.sampledSec}s in the load window, ${throughput}/s under profiling):`);
    for (const c of summary.categories.slice(0, 12)) info(`  ${String(c.percent).padStart(5)}%  ${String(c.usPerNotice ?? '-').padStart(5)} µs/notice  ${c.category}`);
    return summary;
  } finally {
    removeTempDir(dir);
  }
}
