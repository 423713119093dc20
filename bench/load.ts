// One load step against one peer: open-loop at a fixed offered rate, or closed-loop at max with a bounded window per pair.
import type { BuiltPool } from './envelope-pool.ts';
import type { LoadEvents, LoadLink } from './links.ts';
import { cpuPercent, machineCpuSec, RssWatcher, sampleProc, selfCpuSec, type ProcSample } from './proc-stats.ts';
import { round, SampleRecorder, type Distribution } from './stats.ts';

export type OfferedLoad =
  | { readonly kind: 'rate'; readonly perSec: number }
  /** As fast as the peer goes: each pair keeps `inFlightPerPair` messages sent but not yet delivered. */
  | { readonly kind: 'max'; readonly inFlightPerPair: number };

export interface LoadStepSpec {
  readonly label: string;
  readonly offered: OfferedLoad;
  /** Sending time, warm-up included. */
  readonly durationMs: number;
  /** Excluded from every figure: connections, JIT and SQLite caches settle first. */
  readonly warmupMs: number;
  /** After sending stops, how long to wait for what is still in flight. */
  readonly drainMs: number;
  /** pools[i] is sent over links[i], in order. */
  readonly pools: readonly BuiltPool[];
  readonly links: readonly LoadLink[];
  /** Start the pools over when used up: for peers that ignore ids and seq (bare, Mosquitto), never for Hotline. */
  readonly recycle: boolean;
  /** The relay or broker process whose CPU and RSS are reported. */
  readonly serverPid: number;
  readonly onProgress?: (line: string) => void;
}

export interface LoadStepResult {
  readonly label: string;
  readonly offeredPerSec: number | 'max';
  readonly pairs: number;
  /** Measured window: warm-up excluded, up to the end of sending. */
  readonly windowSec: number;
  readonly endedBy: 'time' | 'pool';
  readonly drainSec: number;
  readonly sent: number;
  readonly accepted: number;
  readonly delivered: number;
  /** Sent but not delivered by the end of the drain: an overload backlog still queued, or messages lost. */
  readonly undelivered: number;
  readonly refused: Readonly<Record<string, number>>;
  /** Deliveries inside the measured window per second. */
  readonly throughputPerSec: number;
  readonly deliverLatencyMs: Distribution | null;
  readonly acceptLatencyMs: Distribution | null;
  readonly server: { readonly cpuPercent: number; readonly cpuUsPerMessage: number | null; readonly rssPeakMB: number; readonly rssEndMB: number };
  readonly generator: { readonly cpuPercent: number; readonly tickLagP99Ms: number | null };
  /** The measured window in monotonic µs (process.hrtime), to cut a server CPU profile to it. */
  readonly windowHrUs: { readonly from: number; readonly to: number };
  readonly deliveredInWindow: number;
  /**
   * CPU used on this machine by anything but the server and the generator: other work contaminating the figures
   * (loopback networking done in softirq context also lands here), and CPU the hypervisor stole from this VM.
   */
  readonly otherCpuPercent: number | null;
  readonly stealCpuPercent: number | null;
}

interface Pending {
  readonly sentAt: number;
  readonly pair: number;
  readonly measured: boolean;
  accepted: boolean;
  delivered: boolean;
}

const TICK_MS = 5;

function hrMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Drives one step; the peer's connections report back through the LoadEvents methods. */
export class LoadStep implements LoadEvents {
  private readonly pending = new Map<string, Pending>();
  private readonly cursor: number[];
  private readonly inFlight: number[];
  private readonly deliverLatency = new SampleRecorder();
  private readonly acceptLatency = new SampleRecorder();
  private readonly tickLag = new SampleRecorder();
  private readonly refusedByCode: Record<string, number> = {};
  private sent = 0;
  private acceptedCount = 0;
  private deliveredCount = 0;
  private deliveredInWindow = 0;
  private sending = false;
  private startedAt = 0;
  private windowFrom = 0;
  private windowTo = 0;
  private endedBy: 'time' | 'pool' = 'time';
  private serverFrom: ProcSample | null = null;
  private serverTo: ProcSample | null = null;
  private selfFrom = 0;
  private selfTo = 0;
  private machineFrom: { busy: number; steal: number } | null = null;
  private machineTo: { busy: number; steal: number } | null = null;
  private hrFrom = 0;
  private hrTo = 0;
  private rrNext = 0;
  private onSendingEnded: () => void = () => undefined;

  constructor(private readonly spec: LoadStepSpec) {
    if (spec.pools.length !== spec.links.length) throw new Error(`${spec.label}: ${spec.pools.length} pools for ${spec.links.length} links`);
    this.cursor = spec.links.map(() => 0);
    this.inFlight = spec.links.map(() => 0);
  }

  accepted(id: string): void {
    const p = this.pending.get(id);
    if (!p || p.accepted) return;
    p.accepted = true;
    this.acceptedCount++;
    if (p.measured) this.acceptLatency.add(performance.now() - p.sentAt);
    if (p.delivered) this.pending.delete(id);
  }

  delivered(id: string): void {
    const p = this.pending.get(id);
    if (!p || p.delivered) return;
    const now = performance.now();
    p.delivered = true;
    this.deliveredCount++;
    this.inFlight[p.pair] = (this.inFlight[p.pair] ?? 1) - 1;
    if (p.measured) this.deliverLatency.add(now - p.sentAt);
    if (now >= this.windowFrom && this.sending) this.deliveredInWindow++;
    if (p.accepted) this.pending.delete(id);
    if (this.sending && this.spec.offered.kind === 'max') this.sendFrom(p.pair);
  }

  refused(code: string, id: string | null): void {
    this.refusedByCode[code] = (this.refusedByCode[code] ?? 0) + 1;
    const p = id === null ? undefined : this.pending.get(id);
    if (p && id !== null) {
      this.pending.delete(id);
      if (!p.delivered) this.inFlight[p.pair] = (this.inFlight[p.pair] ?? 1) - 1;
      if (!p.delivered && this.sending && this.spec.offered.kind === 'max') this.sendFrom(p.pair);
    }
  }

  /** Sends the next pooled frame of `pair`; false (and sending ends) when that pool is used up. */
  private sendFrom(pair: number): boolean {
    const pool = this.spec.pools[pair];
    const link = this.spec.links[pair];
    let i = this.cursor[pair] ?? 0;
    if (pool && this.spec.recycle && i >= pool.frames.length) i = 0;
    const id = pool?.ids[i];
    // A recycled id still in flight would be counted twice: treat it as the pool running out.
    if (!pool || !link || id === undefined || this.pending.has(id)) {
      this.endSending('pool');
      return false;
    }
    this.cursor[pair] = i + 1;
    const now = performance.now();
    this.pending.set(id, { sentAt: now, pair, measured: now >= this.windowFrom, accepted: false, delivered: false });
    this.inFlight[pair] = (this.inFlight[pair] ?? 0) + 1;
    this.sent++;
    link.send(pool.frames[i] as string, id);
    return true;
  }

  private endSending(reason: 'time' | 'pool'): void {
    if (!this.sending) return;
    this.sending = false;
    this.endedBy = reason;
    this.windowTo = performance.now();
    this.serverTo = sampleProc(this.spec.serverPid);
    this.selfTo = selfCpuSec();
    this.machineTo = machineCpuSec();
    this.hrTo = hrMicros();
    this.onSendingEnded();
  }

  private beginWindow(): void {
    this.serverFrom = sampleProc(this.spec.serverPid);
    this.selfFrom = selfCpuSec();
    this.machineFrom = machineCpuSec();
    this.hrFrom = hrMicros();
  }

  /** Open loop: every tick, send what the offered rate says is due by now, round-robin over the pairs. */
  private tickRate(perSec: number, expectedAt: number): void {
    if (!this.sending) return;
    const now = performance.now();
    this.tickLag.add(Math.max(0, now - expectedAt));
    const due = Math.floor(((now - this.startedAt) / 1000) * perSec) - this.sent;
    for (let n = 0; n < due && this.sending; n++) {
      this.sendFrom(this.rrNext);
      this.rrNext = (this.rrNext + 1) % this.spec.links.length;
    }
    if (this.sending) setTimeout(() => this.tickRate(perSec, now + TICK_MS), TICK_MS);
  }

  async run(): Promise<LoadStepResult> {
    const { spec } = this;
    const rss = new RssWatcher(spec.serverPid);
    this.startedAt = performance.now();
    this.windowFrom = this.startedAt + spec.warmupMs;
    this.sending = true;
    const sendingEnded = new Promise<void>((resolve) => (this.onSendingEnded = resolve));
    const timers = [
      setTimeout(() => this.beginWindow(), spec.warmupMs),
      setTimeout(() => this.endSending('time'), spec.durationMs),
      setInterval(() => this.reportProgress(), 1000),
    ];
    if (spec.warmupMs === 0) this.beginWindow();
    if (spec.offered.kind === 'rate') this.tickRate(spec.offered.perSec, this.startedAt);
    else {
      for (let pair = 0; pair < spec.links.length; pair++) {
        for (let k = 0; k < spec.offered.inFlightPerPair && this.sending; k++) this.sendFrom(pair);
      }
    }
    await sendingEnded;
    for (const t of timers) clearTimeout(t);
    if (!this.serverFrom) this.beginWindow();
    await this.drain();
    const memory = rss.stop();
    return this.result(memory.peakMB, memory.lastMB);
  }

  private async drain(): Promise<void> {
    const until = performance.now() + this.spec.drainMs;
    while (this.deliveredCount + this.refusedTotal() < this.sent && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private refusedTotal(): number {
    return Object.values(this.refusedByCode).reduce((a, b) => a + b, 0);
  }

  private lastProgress = { at: 0, delivered: 0 };

  private reportProgress(): void {
    const now = performance.now();
    const rate = this.lastProgress.at ? ((this.deliveredCount - this.lastProgress.delivered) / (now - this.lastProgress.at)) * 1000 : 0;
    this.lastProgress = { at: now, delivered: this.deliveredCount };
    const cpu = sampleProc(this.spec.serverPid);
    this.spec.onProgress?.(
      `${this.spec.label}: ${((now - this.startedAt) / 1000).toFixed(0)}s sent ${this.sent} delivered ${this.deliveredCount} (${Math.round(rate)}/s)` +
        (cpu ? ` server RSS ${Math.round(cpu.rssBytes / 1048576)} MB` : ''),
    );
  }

  private result(rssPeakMB: number, rssEndMB: number): LoadStepResult {
    const windowSec = Math.max(0.001, (this.windowTo - this.windowFrom) / 1000);
    const serverCpu = this.serverFrom && this.serverTo ? cpuPercent(this.serverFrom, this.serverTo) : Number.NaN;
    const serverCpuSec = this.serverFrom && this.serverTo ? this.serverTo.cpuSec - this.serverFrom.cpuSec : Number.NaN;
    const offered = this.spec.offered;
    const selfSec = this.selfTo - this.selfFrom;
    const otherSec = this.machineFrom && this.machineTo ? this.machineTo.busy - this.machineFrom.busy - selfSec - serverCpuSec : null;
    const stealSec = this.machineFrom && this.machineTo ? this.machineTo.steal - this.machineFrom.steal : null;
    return {
      label: this.spec.label,
      offeredPerSec: offered.kind === 'rate' ? offered.perSec : 'max',
      pairs: this.spec.links.length,
      windowSec: round(windowSec, 2),
      endedBy: this.endedBy,
      drainSec: this.spec.drainMs / 1000,
      sent: this.sent,
      accepted: this.acceptedCount,
      delivered: this.deliveredCount,
      undelivered: this.sent - this.deliveredCount,
      refused: { ...this.refusedByCode },
      throughputPerSec: round(this.deliveredInWindow / windowSec, 0),
      deliverLatencyMs: this.deliverLatency.summary(),
      acceptLatencyMs: this.acceptLatency.summary(),
      server: {
        cpuPercent: round(serverCpu, 0),
        cpuUsPerMessage: this.deliveredInWindow > 0 ? round((serverCpuSec * 1e6) / this.deliveredInWindow, 0) : null,
        rssPeakMB,
        rssEndMB,
      },
      generator: {
        cpuPercent: round((selfSec / windowSec) * 100, 0),
        tickLagP99Ms: this.tickLag.summary()?.p99 ?? null,
      },
      windowHrUs: { from: this.hrFrom, to: this.hrTo },
      deliveredInWindow: this.deliveredInWindow,
      otherCpuPercent: otherSec === null || Number.isNaN(otherSec) ? null : round(Math.max(0, (otherSec / windowSec) * 100), 0),
      stealCpuPercent: stealSec === null ? null : round((stealSec / windowSec) * 100, 0),
    };
  }
}
