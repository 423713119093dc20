// A peer's workloads: sustained max throughput, then latency at each fixed offered rate; each step on a fresh server.
import { DeadlineProbe, type DeadlineFigures } from './deadline-probe.ts';
import type { BuiltPool } from './envelope-pool.ts';
import type { PeerName } from './links.ts';
import { LoadStep, type LoadStepResult, type OfferedLoad } from './load.ts';
import type { BenchPlan } from './options.ts';
import { ForwardingEvents, startPeer, type PeerServer, type PeerSetup } from './peers.ts';
import { probeDeadlineMs, type BenchPair } from './population.ts';
import { info, phase, status } from './progress.ts';
import { relayAcceptFigures, scrapeRelayMetrics, type RelayAcceptFigures, type RelayMetricsSnapshot } from './relay-metrics.ts';
import type { Distribution } from './stats.ts';
import type { ChannelTrust } from './trust-setup.ts';

/** A step's figures, plus the relay's own commit and deadline metrics when the peer is Hotline. */
export type StepFigures = LoadStepResult & {
  readonly relayMetrics: RelayMetricsSnapshot | null;
  /** Hotline only: accept latency as the relay measures it (frame → accepted), over the step including its warm-up. */
  readonly relayAccept: RelayAcceptFigures | null;
};

export interface StepInput {
  readonly label: string;
  readonly server: PeerServer;
  readonly pairs: readonly BenchPair[];
  readonly pools: ReadonlyMap<string, BuiltPool>;
  readonly offered: OfferedLoad;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly drainMs: number;
  /** Runs after the pairs are connected and before the load starts (scale points measure RSS here). */
  readonly beforeLoad?: () => Promise<void>;
}

export function poolsFor(pairs: readonly BenchPair[], pools: ReadonlyMap<string, BuiltPool>): BuiltPool[] {
  return pairs.map((p) => {
    const pool = pools.get(p.key);
    if (!pool) throw new Error(`no pre-built envelopes for ${p.key}`);
    return pool;
  });
}

/** Connects the pairs to the running server, drives one load step, disconnects. */
export async function runLoadStep(input: StepInput): Promise<StepFigures> {
  const events = new ForwardingEvents();
  const connections = await input.server.connect(input.pairs, events);
  try {
    await input.beforeLoad?.();
    const step = new LoadStep({
      label: input.label,
      offered: input.offered,
      durationMs: input.durationMs,
      warmupMs: input.warmupMs,
      drainMs: input.drainMs,
      pools: poolsFor(input.pairs, input.pools),
      links: connections.links,
      recycle: input.server.name !== 'hotline',
      serverPid: input.server.pid,
      onProgress: status,
    });
    events.target = step;
    // Scraping resets the relay's event-loop delay histogram: the figures after the step are the step's own.
    const before = input.server.hotline ? await scrapeRelayMetrics(input.server.hotline) : null;
    const result = await step.run();
    const after = input.server.hotline ? await scrapeRelayMetrics(input.server.hotline) : null;
    return { ...result, relayMetrics: after, relayAccept: relayAcceptFigures(before, after) };
  } finally {
    await connections.close();
  }
}

export interface PeerFigures {
  readonly throughputPerSec: number;
  /** Send → recipient receives the deliver frame, at each offered rate and at max (closed loop). */
  readonly latencyMs: Readonly<Record<string, Distribution | null>>;
  /** Send → `accepted` (Hotline: after the fsync-ed commit), MQTT PUBACK, bare relay reply. */
  readonly acceptLatencyMs: Readonly<Record<string, Distribution | null>>;
  readonly serverCpuPercentAtMax: number;
  readonly serverCpuUsPerMessageAtMax: number | null;
  readonly serverRssPeakMB: number;
  readonly generatorCpuPercentAtMax: number;
  readonly steps: readonly StepFigures[];
}

export interface PeerRunContext {
  readonly plan: BenchPlan;
  readonly pairs: readonly BenchPair[];
  readonly probe: BenchPair;
  readonly pools: ReadonlyMap<string, BuiltPool>;
  readonly mosquittoBinary: string | null;
  /** The charters and rosters the pools were built against (installed on every Hotline relay). */
  readonly trust: readonly ChannelTrust[];
}

function describe(r: StepFigures): string {
  const l = r.deliverLatencyMs;
  const lost = r.undelivered > 0 ? `; ${r.undelivered} not delivered within the ${r.drainSec}s drain` : '';
  const refused = Object.keys(r.refused).length ? ` refused ${JSON.stringify(r.refused)}` : '';
  return (
    `${r.label}: ${r.throughputPerSec}/s delivered over ${r.windowSec}s (ended by ${r.endedBy}); latency p50 ${l?.p50 ?? '-'} p99 ${l?.p99 ?? '-'} max ${l?.max ?? '-'} ms; ` +
    `server CPU ${r.server.cpuPercent}% RSS peak ${r.server.rssPeakMB} MB; generator CPU ${r.generator.cpuPercent}%; other CPU ${r.otherCpuPercent ?? '-'}%` +
    (r.relayMetrics ? `; commits ${r.relayMetrics.commits}, mean batch ${r.relayMetrics.meanBatch}, mean commit ${r.relayMetrics.meanCommitMs} ms; event-loop delay p99 ${r.relayMetrics.eventLoopLagP99Ms} max ${r.relayMetrics.eventLoopLagMaxMs} ms` : '') +
    (r.relayAccept?.count ? `; accept inside the relay p99 ≤ ${r.relayAccept.p99AtMostMs} ms, ${r.relayAccept.within10msPercent}% within 10 ms` : '') +
    `${lost}${refused}`
  );
}

async function withServer<T>(name: PeerName, setup: PeerSetup, use: (server: PeerServer) => Promise<T>): Promise<T> {
  const server = await startPeer(name, setup);
  try {
    return await use(server);
  } finally {
    await server.stop();
  }
}

/** Every step for one peer; each Hotline fixed-rate step also carries the deadline probe. */
export async function benchPeer(name: PeerName, ctx: PeerRunContext): Promise<{ figures: PeerFigures; deadlines: Record<string, DeadlineFigures> }> {
  const { plan } = ctx;
  const setup: PeerSetup = { pairs: ctx.pairs, extraMembers: [ctx.probe.sender, ctx.probe.recipient], mosquittoBinary: ctx.mosquittoBinary, trust: ctx.trust };
  const base = { pairs: ctx.pairs, pools: ctx.pools, warmupMs: plan.warmupMs, drainMs: plan.drainMs };
  const steps: StepFigures[] = [];
  const deadlines: Record<string, DeadlineFigures> = {};

  phase(`${name}: sustained throughput, ${ctx.pairs.length} pairs, ${plan.inFlightPerPair} in flight per pair`);
  const max = await withServer(name, setup, (server) =>
    runLoadStep({ ...base, server, label: `${name} max`, offered: { kind: 'max', inFlightPerPair: plan.inFlightPerPair }, durationMs: plan.throughputMs }),
  );
  info(describe(max));
  steps.push(max);

  for (const rate of plan.latencyRates) {
    phase(`${name}: latency at ${rate}/s offered`);
    const result = await withServer(name, setup, async (server) => {
      const probePool = ctx.pools.get(ctx.probe.key);
      const probe = name === 'hotline' && probePool ? new DeadlineProbe(server.url, ctx.probe, probePool, probeDeadlineMs) : null;
      await probe?.start(plan.latencyMs);
      const r = await runLoadStep({ ...base, server, label: `${name} ${rate}/s`, offered: { kind: 'rate', perSec: rate }, durationMs: plan.latencyMs });
      if (probe) {
        status('deadline probe: waiting for the last probe deadline to pass');
        const figures = await probe.finish(plan.probeGraceMs, plan.probeMaxWaitMs);
        deadlines[`at${rate}`] = figures;
        info(`deadline probe at ${rate}/s: ${figures.events} steps fired for ${figures.probes} probes; fire error p50 ${figures.fireErrorMs.p50 ?? 'null'} p99 ${figures.fireErrorMs.p99 ?? 'null'} ms`);
      }
      return r;
    });
    info(describe(result));
    steps.push(result);
  }

  const latencyMs: Record<string, Distribution | null> = {};
  const acceptLatencyMs: Record<string, Distribution | null> = {};
  for (const s of steps) {
    const key = s.offeredPerSec === 'max' ? 'max' : `at${s.offeredPerSec}`;
    latencyMs[key] = s.deliverLatencyMs;
    acceptLatencyMs[key] = s.acceptLatencyMs;
  }
  return {
    figures: {
      throughputPerSec: max.throughputPerSec,
      latencyMs,
      acceptLatencyMs,
      serverCpuPercentAtMax: max.server.cpuPercent,
      serverCpuUsPerMessageAtMax: max.server.cpuUsPerMessage,
      serverRssPeakMB: Math.max(...steps.map((s) => s.server.rssPeakMB)),
      generatorCpuPercentAtMax: max.generator.cpuPercent,
      steps,
    },
    deadlines,
  };
}
