// Pending-deadline scale curve: deadline fire error under a steady load with P acknowledgement deadlines already pending in the relay.
import { DeadlineProbe, type DeadlineFigures } from './deadline-probe.ts';
import { preloadDeadlines, stillPending } from './deadline-preload.ts';
import type { BuiltPool } from './envelope-pool.ts';
import { makeTempDir, removeTempDir } from './children.ts';
import { enrolAll, startHotlineRelay, type HotlineRelay } from './hotline-relay.ts';
import type { BenchPlan } from './options.ts';
import { hotlineServer } from './peers.ts';
import {
  buildTask,
  pairsTrust,
  probeDeadlineMs,
  seedChannel,
  seedDeadlineMs,
  seedLevel,
  seedPairs,
  type BenchPair,
} from './population.ts';
import { info, phase, status } from './progress.ts';
import { round, type Distribution } from './stats.ts';
import { runLoadStep } from './steps.ts';
import { installTrust, type ChannelTrust } from './trust-setup.ts';

/** One point of the curve: the probe's fire error with `pending` deadlines waiting in the relay. */
export interface PendingDeadlinePoint {
  /** Fire error of the probe's escalation steps, event `at` − step `due` (relay clock), ms. */
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  /** Probe notices accepted, and escalation steps seen firing for them (the samples). */
  readonly probes: number;
  readonly events: number;
  /** Notices per second offered by the load generator, and delivered per second in the measured window. */
  readonly offeredRate: number;
  readonly achievedRate: number;
  /** Wall time to make the deadlines pending: build the notices (worker threads) and commit them (relay code), overlapped. */
  readonly preloadSec: number;
  readonly note: string;
  /** Acknowledgement deadlines preloaded, and the escalation steps they have open in the store at relay start. */
  readonly pending: number;
  readonly pendingSteps: number;
  /** Of the preloaded deadlines, how many still had every step open after the run (should equal `pending`). */
  readonly stillPendingAfter: number | null;
  /** Main-thread time inside validateEnvelope + commitEnvelope during the preload. */
  readonly preloadCommitSec: number;
  /** Spawn → ready line of the relay started on the preloaded store; and of the first relay on the empty dir. */
  readonly relayStartSec: number;
  readonly relayStartEmptySec: number;
  /** Client clock: event frame received − due (adds the event's commit and delivery). */
  readonly observedErrorMs: Distribution | null;
  /** The load's own send → accepted latency, and the relay's CPU share and other CPU over the measured window. */
  readonly acceptLatencyMs: Distribution | null;
  readonly serverCpuPercent: number;
  readonly otherCpuPercent: number | null;
  /** Escalation steps the relay fired in the run, from its /metrics (only the probe's are due). */
  readonly relayStepsFired: number | null;
  readonly relayMeanFireErrorMs: number | null;
}

export interface DeadlineScaleInput {
  readonly plan: BenchPlan;
  readonly pairs: readonly BenchPair[];
  readonly probe: BenchPair;
  readonly pools: ReadonlyMap<string, BuiltPool>;
  /** The charters and rosters of the load and probe channels the pools were built against. */
  readonly trust: readonly ChannelTrust[];
}

/** Senders of the preloaded notices, each with its own recipient (none of them connects). */
const seedSenders = 50;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; sec: number }> {
  const from = performance.now();
  const value = await work();
  return { value, sec: round((performance.now() - from) / 1000, 2) };
}

/** Relay on `dataDir` with the load, probe and preload channels chartered (rosters installed) and every member enrolled; stopped, data kept. */
async function prepareDataDir(dataDir: string, trust: readonly ChannelTrust[], members: readonly BenchPair[]): Promise<number> {
  const { value: relay, sec } = await timed(() => startHotlineRelay({ dataDir }));
  try {
    await installTrust(relay, trust);
    await enrolAll(relay, members.flatMap((p) => [p.sender, p.recipient]));
  } finally {
    await relay.stop({ keepData: true });
  }
  return sec;
}

async function pendingPoint(pending: number, input: DeadlineScaleInput, seeds: readonly BenchPair[], seedTrust: ChannelTrust): Promise<PendingDeadlinePoint> {
  const { plan } = input;
  const probePool = input.pools.get(input.probe.key);
  if (!probePool) throw new Error('no pre-built envelopes for the deadline probe');
  const dataDir = makeTempDir('deadlines');
  let relay: HotlineRelay | null = null;
  try {
    status(`${pending} pending: enrolling on a fresh relay`);
    const relayStartEmptySec = await prepareDataDir(dataDir, [...input.trust, seedTrust], [...input.pairs, input.probe, ...seeds]);

    const perSender = Math.ceil(pending / seeds.length);
    const tasks = seeds.map((s, i) => buildTask(s, seedTrust, seedLevel, Math.min(perSender, Math.max(0, pending - i * perSender)), plan.noticeBytes)).filter((t) => t.count > 0);
    const preload = await preloadDeadlines(dataDir, tasks, (done, total) => status(`${pending} pending: preloading, ${done} / ${total} notices committed`));
    info(
      `${pending} pending: ${preload.deadlines} FLASH notices (deadline ${seedDeadlineMs / 60_000} min) committed with ${preload.steps} open escalation steps ` +
        `in ${round(preload.sec, 1)}s (${Math.round(preload.deadlines / preload.sec)}/s; ${round(preload.commitSec, 1)}s of it validating and committing)`,
    );

    status(`${pending} pending: starting the relay on the preloaded store`);
    const started = await timed(() => startHotlineRelay({ dataDir }));
    relay = started.value;
    const server = hotlineServer(relay);
    const probe = new DeadlineProbe(server.url, input.probe, probePool, probeDeadlineMs);
    // Every probe step (due 1×, 1.25× and 1.5× the probe deadline after acceptance) falls inside the load.
    const spreadMs = Math.max(500, plan.deadlineScaleMs - 1.5 * probeDeadlineMs - 500);
    const load = await runLoadStep({
      label: `${pending} pending, ${plan.deadlineScaleRate}/s`,
      server,
      pairs: input.pairs,
      pools: input.pools,
      offered: { kind: 'rate', perSec: plan.deadlineScaleRate },
      durationMs: plan.deadlineScaleMs,
      warmupMs: Math.min(plan.warmupMs, 1000),
      drainMs: plan.drainMs,
      // The probe connects once the load pairs are, and starts sending with the load.
      beforeLoad: () => probe.start(spreadMs),
    });
    status(`${pending} pending: waiting for the last probe deadline to pass`);
    const figures: DeadlineFigures = await probe.finish(plan.probeGraceMs, plan.probeMaxWaitMs);
    await relay.stop({ keepData: true });
    relay = null;
    const after = stillPending(dataDir, preload.rowids, preload.steps / Math.max(1, preload.deadlines));

    const fire = figures.fireErrorMs;
    const lost = load.undelivered > 0 ? `; ${load.undelivered} load notices not delivered within the drain` : '';
    const refused = Object.keys(load.refused).length ? `; refused ${JSON.stringify(load.refused)}` : '';
    const point: PendingDeadlinePoint = {
      p50: fire.p50,
      p99: fire.p99,
      max: fire.max,
      probes: figures.probes,
      events: figures.events,
      offeredRate: plan.deadlineScaleRate,
      achievedRate: load.throughputPerSec,
      preloadSec: round(preload.sec, 1),
      note:
        (figures.events > 0
          ? `${figures.events} escalation steps fired for ${figures.probes} probe notices (FLASH ${probeDeadlineMs} ms, sent over the first ${spreadMs / 1000} s ` +
            `of a ${plan.deadlineScaleMs / 1000} s step at ${plan.deadlineScaleRate}/s, delivered but never acknowledged) with ${preload.deadlines} preloaded ` +
            `deadlines (${preload.steps} escalation steps) pending; error = event \`at\` − step \`due\`, relay clock`
          : figures.note) +
        (after === preload.deadlines ? '' : `; WARNING: only ${after} of ${preload.deadlines} preloaded deadlines still had every step open afterwards`) +
        lost +
        refused,
      pending: preload.deadlines,
      pendingSteps: preload.steps,
      stillPendingAfter: after,
      preloadCommitSec: round(preload.commitSec, 1),
      relayStartSec: started.sec,
      relayStartEmptySec,
      observedErrorMs: figures.observedErrorMs,
      acceptLatencyMs: load.acceptLatencyMs,
      serverCpuPercent: load.server.cpuPercent,
      otherCpuPercent: load.otherCpuPercent,
      relayStepsFired: load.relayMetrics?.deadlineFires ?? null,
      relayMeanFireErrorMs: load.relayMetrics?.meanDeadlineFireErrorMs ?? null,
    };
    info(describePoint(point));
    return point;
  } finally {
    if (relay) await relay.stop({ keepData: true });
    removeTempDir(dataDir);
  }
}

export function describePoint(p: PendingDeadlinePoint): string {
  return (
    `${p.pending} pending: fire error p50 ${p.p50 ?? 'null'} p99 ${p.p99 ?? 'null'} max ${p.max ?? 'null'} ms (${p.events} steps for ${p.probes} probes); ` +
    `load ${p.offeredRate}/s → ${p.achievedRate}/s, accept p50 ${p.acceptLatencyMs?.p50 ?? '-'} p99 ${p.acceptLatencyMs?.p99 ?? '-'} ms, relay CPU ${p.serverCpuPercent}%, ` +
    `other CPU ${p.otherCpuPercent ?? '-'}%; preload ${p.preloadSec}s; relay start ${p.relayStartSec}s (empty store ${p.relayStartEmptySec}s)` +
    (p.stillPendingAfter === p.pending ? '' : `; only ${p.stillPendingAfter} preloaded deadlines still pending afterwards`)
  );
}

/** Every point of plan.deadlineScalePoints, each on a fresh relay, into `out` keyed by the number of pending deadlines (kept if a later point fails). */
export async function benchDeadlineScale(input: DeadlineScaleInput, out: Record<string, PendingDeadlinePoint>): Promise<void> {
  const seeds = seedPairs(seedSenders);
  // 50 senders on PA's roster, their 50 recipients on PB's: signed once, installed on each point's relay.
  const seedTrust = pairsTrust(seedChannel, seeds);
  for (const pending of input.plan.deadlineScalePoints) {
    phase(`deadline scale: ${pending} pending deadlines, ${input.plan.deadlineScaleRate}/s for ${input.plan.deadlineScaleMs / 1000}s`);
    out[String(pending)] = await pendingPoint(pending, input, seeds, seedTrust);
  }
}
