// `npm run bench`: Hotline against a bare ws relay and Mosquitto, single-thread limits, scale points, a relay CPU profile → latest.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCrypto } from '../shared/index.ts';
import { cleanupAll, installCleanupHandlers, runningChildren } from './children.ts';
import type { ProfileSummary } from './cpu-profile.ts';
import type { DeadlineFigures } from './deadline-probe.ts';
import { benchDeadlineScale, type PendingDeadlinePoint } from './deadline-scale.ts';
import { buildPools, type BuildTask, type BuiltPool } from './envelope-pool.ts';
import { measureLimits, type LimitFigures } from './limits.ts';
import type { PeerName } from './links.ts';
import { findMosquitto, mosquittoInstallHint } from './mosquitto.ts';
import { markdownSummary } from './markdown.ts';
import { parsePlan, type BenchPlan } from './options.ts';
import { fairness } from './peers.ts';
import { buildTask, createPopulation, idleMembers, loadLevel, type Population } from './population.ts';
import { profileRelay } from './profile.ts';
import { elapsedSec, info, phase, status, warn } from './progress.ts';
import { loadAverage } from './proc-stats.ts';
import { printSummary, ratio, isSkipped } from './report.ts';
import { writeResults, type BenchResults, type SkippedPeer } from './results.ts';
import { benchScale, type ScalePoint } from './scale.ts';
import { benchEndToEnd, type EndToEndFigures } from './e2e.ts';
import { benchEvidence, type EvidenceFigures } from './evidence.ts';
import { benchHybridWrap, type HybridWrapFigures } from './hybrid-wrap.ts';
import { benchReviewReport, describeReviewPoint, type ReviewReportPoint } from './review-report.ts';
import { round } from './stats.ts';
import { benchPeer, type PeerFigures } from './steps.ts';

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));

/** Pairs that also carry the smallest scale point (10 PoCs = 5 pairs at the full scale rate) need longer pools. */
const scalePairs = 5;

function poolTasks(plan: BenchPlan, population: Population): BuildTask[] {
  const scaleNeed = plan.scalePoints.length ? Math.ceil(((plan.scaleRate / scalePairs) * plan.scaleMs * 1.15) / 1000) : 0;
  const tasks = population.pairs.map((p, i) => buildTask(p, population.trust.load, loadLevel, i < scalePairs ? Math.max(plan.poolPerPair, scaleNeed) : plan.poolPerPair, plan.noticeBytes));
  tasks.push(buildTask(population.probe, population.trust.probe, 'FLASH', plan.probeNotices, plan.noticeBytes));
  return tasks;
}

function fileSystemOf(path: string): string {
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[1] !== undefined && path.startsWith(f[1]));
    const best = mounts.sort((a, b) => (b[1]?.length ?? 0) - (a[1]?.length ?? 0))[0];
    return best ? `${best[2]} on ${best[1]} (${best[0]})` : 'unknown';
  } catch {
    return 'unknown';
  }
}

const noDeadlines: DeadlineFigures = {
  fireErrorMs: { p50: null, p99: null, max: null },
  observedErrorMs: null,
  deadlineMs: 0,
  probes: 0,
  events: 0,
  note: 'null: the Hotline latency steps did not run, so the deadline probe did not either',
};

/** The probe at the highest offered rate is the headline (deadlines.fireErrorMs.p99); every rate is kept. */
function headlineDeadlines(plan: BenchPlan, byRate: Record<string, DeadlineFigures>, byPending: Record<string, PendingDeadlinePoint>): BenchResults['deadlines'] {
  const key = [...plan.latencyRates].sort((a, b) => b - a).map((r) => `at${r}`).find((k) => byRate[k] !== undefined) ?? null;
  return { ...(key ? (byRate[key] as DeadlineFigures) : noDeadlines), measuredAt: key, byOfferedRate: byRate, byPending };
}

interface RunState {
  limits: LimitFigures | null;
  peers: Partial<Record<PeerName, PeerFigures | SkippedPeer>>;
  deadlines: Record<string, DeadlineFigures>;
  deadlinesByPending: Record<string, PendingDeadlinePoint>;
  scale: ScalePoint[];
  endToEnd: EndToEndFigures | { skipped: string };
  evidence: EvidenceFigures | { skipped: string };
  hybridWrap: HybridWrapFigures | { skipped: string };
  review: { points: ReviewReportPoint[] } | { skipped: string };
  profile: ProfileSummary | { skipped: string };
  frameBytes: number;
  prebuilt: number;
  prebuildSec: number;
  notes: string[];
}

const loadAtStart = loadAverage();

function assemble(plan: BenchPlan, state: RunState, startedAt: Date, error?: string): BenchResults {
  const notSet: SkippedPeer = { throughputPerSec: null, skipped: 'not run' };
  const hotline = state.peers.hotline ?? notSet;
  const bare = state.peers.bare ?? notSet;
  const mosquitto = state.peers.mosquitto ?? notSet;
  const limits = state.limits ?? { verifyPerSec: 0, parseValidateVerifyPerSec: 0, trustChecksPerSec: 0, receiptSignPerSec: 0, fsyncPerSec: 0, envelopesUsed: 0 };
  return {
    meta: {
      mode: plan.mode,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      durationSec: round(elapsedSec(), 1),
      node: process.version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGB: round(totalmem() / 2 ** 30, 1),
      dataFileSystem: fileSystemOf(join(tmpdir(), '/')),
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadAverage(),
      argv: process.argv.slice(2),
    },
    settings: {
      pairs: plan.pairs,
      noticePlaintextBytes: plan.noticeBytes,
      frameBytes: state.frameBytes,
      inFlightPerPair: plan.inFlightPerPair,
      throughputSec: plan.throughputMs / 1000,
      latencySec: plan.latencyMs / 1000,
      warmupSec: plan.warmupMs / 1000,
      envelopesPrebuilt: state.prebuilt,
      prebuildSec: state.prebuildSec,
      hotlineRateLimit:
        `relay default 500 msgs/s per connection (burst 2000; --rate-limit/--rate-burst change it, the bench keeps the default): ${plan.pairs} sender connections ` +
        `cap the offered load at ${plan.pairs * 500}/s, far above what the relay sustains here`,
    },
    fairness,
    hotline,
    bare,
    mosquitto,
    limits,
    ratios: {
      hotlineVsBare: ratio(hotline.throughputPerSec, bare.throughputPerSec),
      hotlineVsMosquitto: ratio(hotline.throughputPerSec, mosquitto.throughputPerSec),
      hotlineVsVerifyLimit: ratio(hotline.throughputPerSec, limits.verifyPerSec || null),
    },
    deadlines: headlineDeadlines(plan, state.deadlines, state.deadlinesByPending),
    scale: {
      points: state.scale,
      note:
        'each point: a fresh relay, N enrolled PoCs all connected and authenticated; RSS read from /proc before connecting and after 1 s idle ' +
        'with all N connected (the per-connection delta is noisy: heap growth and GC in between can outweigh it; compare rssConnectedMB across points); ' +
        'then the first min(50, N/2) pairs offer the rate and accept latency (send → accepted, i.e. committed) is recorded',
    },
    endToEnd: state.endToEnd,
    review: state.review,
    evidence: state.evidence,
    hybridWrap: state.hybridWrap,
    profile: state.profile,
    notes: state.notes,
    ...(error ? { error } : {}),
  };
}

async function main(): Promise<number> {
  installCleanupHandlers();
  const startedAt = new Date();
  const plan = parsePlan(process.argv.slice(2), join(resultsDir, 'latest.json'));
  if (!plan) return 0;
  const state: RunState = { limits: null, peers: {}, deadlines: {}, deadlinesByPending: {}, scale: [], endToEnd: { skipped: 'not run' }, evidence: { skipped: 'not run' }, hybridWrap: { skipped: 'not run' }, review: { skipped: 'not run' }, profile: { skipped: 'not run' }, frameBytes: 0, prebuilt: 0, prebuildSec: 0, notes: [] };
  try {
    await initCrypto();
    phase(`Hotline bench (${plan.mode}): ${plan.pairs} pairs, ${plan.noticeBytes}-byte notices, ${availableParallelism()} cores`);
    if (loadAtStart > 0.7) {
      warn(`the machine is busy (1-minute load average ${loadAtStart} on ${availableParallelism()} cores): figures will be low and noisy; each step reports otherCpuPercent`);
    }
    const mosquittoBinary = plan.peers.has('mosquitto') ? findMosquitto() : null;
    if (plan.peers.has('mosquitto') && !mosquittoBinary) {
      warn(`mosquitto is not installed: the Mosquitto peer is skipped. Install it with:  ${mosquittoInstallHint}`);
      state.peers.mosquitto = { throughputPerSec: null, skipped: `mosquitto not installed (${mosquittoInstallHint})` };
    }

    const population = createPopulation(plan.pairs);
    const maxScale = Math.max(0, ...plan.scalePoints);
    const idle = idleMembers(Math.max(0, maxScale - 2 * Math.min(plan.pairs, Math.floor(maxScale / 2))));
    const tasks = poolTasks(plan, population);
    const total = tasks.reduce((n, t) => n + t.count, 0);
    phase(`pre-building ${total} signed envelopes on ${availableParallelism()} worker threads (not timed against anyone)`);
    const buildStart = performance.now();
    const pools: Map<string, BuiltPool> = await buildPools(tasks, (built, all) => status(`built ${built} / ${all}`));
    state.prebuildSec = round((performance.now() - buildStart) / 1000, 1);
    state.prebuilt = total;
    state.frameBytes = Buffer.byteLength(pools.get(population.pairs[0]?.key ?? '')?.frames[0] ?? '');
    info(`${total} envelopes in ${state.prebuildSec}s (${Math.round(total / state.prebuildSec)}/s); one send frame is ${state.frameBytes} bytes`);

    phase(`single-thread limits (${plan.limitMs / 1000}s each)`);
    state.limits = measureLimits(population.pairs.map((p) => pools.get(p.key)).filter((p): p is BuiltPool => p !== undefined), population.trust.load, plan.limitMs);
    info(`verifyEnvelope ${state.limits.verifyPerSec}/s; parse+zod+verify ${state.limits.parseValidateVerifyPerSec}/s; trust checks ${state.limits.trustChecksPerSec}/s; receipt sign ${state.limits.receiptSignPerSec}/s; fsync ${state.limits.fsyncPerSec}/s`);

    const trust = [population.trust.load, population.trust.probe];
    const ctx = { plan, pairs: population.pairs, probe: population.probe, pools, mosquittoBinary, trust };
    for (const name of ['hotline', 'bare', 'mosquitto'] as const) {
      if (!plan.peers.has(name) || state.peers[name]) continue;
      const { figures, deadlines } = await benchPeer(name, ctx);
      state.peers[name] = figures;
      Object.assign(state.deadlines, deadlines);
    }

    if (plan.deadlineScalePoints.length) {
      await benchDeadlineScale({ plan, pairs: population.pairs, probe: population.probe, pools, trust }, state.deadlinesByPending);
    }

    if (plan.scalePoints.length) {
      state.scale = await benchScale({
        points: plan.scalePoints,
        pairs: population.pairs,
        idle,
        pools,
        trust,
        rate: plan.scaleRate,
        durationMs: plan.scaleMs,
        warmupMs: Math.min(plan.warmupMs, 1000),
        drainMs: plan.drainMs,
      });
    }

    if (plan.reviewSizes.length) {
      phase(`reviewer report: synthetic relay databases of ${plan.reviewSizes.map((n) => n.toLocaleString('en')).join(', ')} envelopes`);
      state.review = { points: benchReviewReport(plan.reviewSizes, (p) => describeReviewPoint(p).forEach((line) => info(line))) };
    } else state.review = { skipped: '--no-review' };

    if (plan.endToEnd) state.endToEnd = await benchEndToEnd({ ...plan.endToEnd, noticeBytes: plan.noticeBytes });
    else state.endToEnd = { skipped: '--no-e2e' };

    state.evidence = plan.endToEnd ? await benchEvidence({ notices: plan.mode === 'quick' ? 300 : 1000, primitiveMs: plan.mode === 'quick' ? 300 : 1000 }) : { skipped: '--no-e2e' };

    state.hybridWrap = await benchHybridWrap({ recipients: 3, ms: plan.mode === 'quick' ? 300 : 1000 });

    state.profile =
      plan.profileMs === null
        ? { skipped: '--no-profile' }
        : await profileRelay({ pairs: population.pairs, pools, trust, inFlightPerPair: plan.inFlightPerPair, durationMs: plan.profileMs, keepAs: join(resultsDir, 'relay.cpuprofile') });

    for (const name of ['hotline', 'bare', 'mosquitto'] as const) {
      const p = state.peers[name];
      if (p && !isSkipped(p) && p.generatorCpuPercentAtMax >= 90) {
        state.notes.push(`${name}: the load generator used ${p.generatorCpuPercentAtMax}% of a core at max, so its max figure is a floor (generator-bound), not the server's ceiling`);
      }
      const busiest = p && !isSkipped(p) ? Math.max(...p.steps.map((s) => s.otherCpuPercent ?? 0)) : 0;
      if (busiest > 20) state.notes.push(`${name}: other processes used up to ${busiest}% CPU during its steps: its figures are skewed low`);
    }
    const results = assemble(plan, state, startedAt);
    writeResults(plan.outPath, results);
    writeFileSync(plan.outPath.replace(/\.json$/, '') + '.md', markdownSummary(results));
    printSummary(results);
    info(`wrote ${plan.outPath} in ${round(elapsedSec(), 0)}s`);
    return 0;
  } catch (cause) {
    const message = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
    warn(`bench failed: ${message}`);
    writeResults(plan.outPath, assemble(plan, state, startedAt, message));
    warn(`partial results in ${plan.outPath}`);
    return 1;
  } finally {
    const left = runningChildren();
    if (left.length) warn(`still running at the end, now killed: ${left.join(', ')}`);
    cleanupAll();
  }
}

process.exitCode = await main();
