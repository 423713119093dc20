// Connection scale points: relay RSS with N authenticated idle PoCs, then accept latency at a fixed offered rate with them connected.
import type WebSocket from 'ws';
import type { BuiltPool } from './envelope-pool.ts';
import { closeSockets, connectHotline } from './hotline-links.ts';
import { inBatches } from './hotline-relay.ts';
import { startPeer } from './peers.ts';
import type { BenchMember, BenchPair } from './population.ts';
import { info, phase, status } from './progress.ts';
import { megabytes, sampleProc } from './proc-stats.ts';
import { round, type Distribution } from './stats.ts';
import type { RelayAcceptFigures } from './relay-metrics.ts';
import { runLoadStep } from './steps.ts';
import type { ChannelTrust } from './trust-setup.ts';

export interface ScalePoint {
  readonly connections: number;
  readonly loadPairs: number;
  /** Relay RSS after enrolment, before any connection. */
  readonly rssBaselineMB: number;
  /** Relay RSS with all N connections authenticated and idle. */
  readonly rssConnectedMB: number;
  /** (connected − baseline) / N: noisy, V8 heap growth and GC between the two readings can outweigh small N. */
  readonly rssDeltaPerConnectionKB: number;
  readonly connectSec: number;
  readonly offeredPerSec: number;
  readonly acceptLatencyMs: Distribution | null;
  readonly deliverLatencyMs: Distribution | null;
  readonly serverCpuPercent: number;
  /** CPU used by other work on the machine during the load (see LoadStepResult.otherCpuPercent). */
  readonly otherCpuPercent: number | null;
  readonly undelivered: number;
  /** The relay's own event-loop delay during the load (from its /metrics): a relay-side stall shows here, a generator-side one does not. */
  readonly relayEventLoopLagMs: { readonly p99: number | null; readonly max: number | null } | null;
  /** Accept latency as the relay itself measures it (frame → accepted), apart from the generator's view. */
  readonly relayAccept: RelayAcceptFigures | null;
}

export interface ScaleInput {
  readonly points: readonly number[];
  readonly pairs: readonly BenchPair[];
  readonly idle: readonly BenchMember[];
  readonly pools: ReadonlyMap<string, BuiltPool>;
  /** The charters and rosters of the pools' channels; idle PoCs are on no roster. */
  readonly trust: readonly ChannelTrust[];
  readonly rate: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly drainMs: number;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scalePoint(n: number, input: ScaleInput): Promise<ScalePoint> {
  const pairs = input.pairs.slice(0, Math.min(input.pairs.length, Math.floor(n / 2)));
  const idle = input.idle.slice(0, n - 2 * pairs.length);
  if (idle.length + 2 * pairs.length < n) throw new Error(`scale point ${n}: only ${idle.length} idle members prepared`);
  status(`${n} PoCs: starting a relay and enrolling ${n} identities`);
  const server = await startPeer('hotline', { pairs, extraMembers: idle, mosquittoBinary: null, trust: input.trust });
  const idleSockets: WebSocket[] = [];
  try {
    await settle(500);
    const baseline = sampleProc(server.pid);
    let rssConnected = baseline;
    let connectSec = 0;
    const load = await runLoadStep({
      label: `${n} PoCs, ${input.rate}/s`,
      server,
      pairs,
      pools: input.pools,
      offered: { kind: 'rate', perSec: input.rate },
      durationMs: input.durationMs,
      warmupMs: input.warmupMs,
      drainMs: input.drainMs,
      beforeLoad: async () => {
        const started = performance.now();
        status(`${n} PoCs: connecting ${idle.length} idle PoCs beside ${pairs.length} pairs`);
        await inBatches(idle, 20, async (m) => {
          idleSockets.push(await connectHotline(server.url, m.identity, () => undefined));
        });
        connectSec = (performance.now() - started) / 1000;
        await settle(1000);
        rssConnected = sampleProc(server.pid);
      },
    });
    const base = baseline?.rssBytes ?? Number.NaN;
    const connected = rssConnected?.rssBytes ?? Number.NaN;
    const point: ScalePoint = {
      connections: n,
      loadPairs: pairs.length,
      rssBaselineMB: megabytes(base),
      rssConnectedMB: megabytes(connected),
      rssDeltaPerConnectionKB: round((connected - base) / 1024 / n, 1),
      connectSec: round(connectSec, 2),
      offeredPerSec: input.rate,
      acceptLatencyMs: load.acceptLatencyMs,
      deliverLatencyMs: load.deliverLatencyMs,
      serverCpuPercent: load.server.cpuPercent,
      otherCpuPercent: load.otherCpuPercent,
      undelivered: load.undelivered,
      relayAccept: load.relayAccept,
      relayEventLoopLagMs: load.relayMetrics ? { p99: load.relayMetrics.eventLoopLagP99Ms, max: load.relayMetrics.eventLoopLagMaxMs } : null,
    };
    info(
      `${n} PoCs: RSS ${point.rssBaselineMB} → ${point.rssConnectedMB} MB (${point.rssDeltaPerConnectionKB} KB/connection); ` +
        `accept p50 ${point.acceptLatencyMs?.p50 ?? '-'} p99 ${point.acceptLatencyMs?.p99 ?? '-'} ms at ${input.rate}/s over ${pairs.length} pairs; ` +
        `inside the relay p99 ≤ ${point.relayAccept?.p99AtMostMs ?? '-'} ms (${point.relayAccept?.within10msPercent ?? '-'}% within 10 ms); ` +
        `relay event-loop delay p99 ${point.relayEventLoopLagMs?.p99 ?? '-'} max ${point.relayEventLoopLagMs?.max ?? '-'} ms`,
    );
    return point;
  } finally {
    await closeSockets(idleSockets);
    await server.stop();
  }
}

export async function benchScale(input: ScaleInput): Promise<ScalePoint[]> {
  const out: ScalePoint[] = [];
  for (const n of input.points) {
    phase(`scale: ${n} connected PoCs`);
    out.push(await scalePoint(n, input));
  }
  return out;
}
