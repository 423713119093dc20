// The shape of bench/results/latest.json: every figure of one run, with the settings and caveats needed to read it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DeadlineFigures } from './deadline-probe.ts';
import type { EndToEndFigures } from './e2e.ts';
import type { PendingDeadlinePoint } from './deadline-scale.ts';
import type { LimitFigures } from './limits.ts';
import type { PeerName } from './links.ts';
import type { ProfileSummary } from './cpu-profile.ts';
import type { ScalePoint } from './scale.ts';
import type { ReviewReportPoint } from './review-report.ts';
import type { EvidenceFigures } from './evidence.ts';
import type { HybridWrapFigures } from './hybrid-wrap.ts';
import type { PeerFigures } from './steps.ts';

export interface SkippedPeer {
  readonly throughputPerSec: null;
  readonly skipped: string;
}

export interface BenchResults {
  readonly meta: {
    readonly mode: 'full' | 'quick';
    readonly startedAt: string;
    readonly finishedAt: string;
    readonly durationSec: number;
    readonly node: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryGB: number;
    readonly dataFileSystem: string;
    /** Other work on the machine skews every figure: see also each step's otherCpuPercent. */
    readonly loadAverageAtStart: number;
    readonly loadAverageAtEnd: number;
    readonly argv: readonly string[];
  };
  readonly settings: {
    readonly pairs: number;
    readonly noticePlaintextBytes: number;
    /** Bytes of one `send` frame (what bare and MQTT carry too). */
    readonly frameBytes: number;
    readonly inFlightPerPair: number;
    readonly throughputSec: number;
    readonly latencySec: number;
    readonly warmupSec: number;
    readonly envelopesPrebuilt: number;
    readonly prebuildSec: number;
    readonly hotlineRateLimit: string;
  };
  readonly fairness: Readonly<Record<PeerName, string>>;
  readonly hotline: PeerFigures | SkippedPeer;
  readonly bare: PeerFigures | SkippedPeer;
  readonly mosquitto: PeerFigures | SkippedPeer;
  readonly limits: LimitFigures;
  readonly ratios: {
    readonly hotlineVsBare: number | null;
    readonly hotlineVsMosquitto: number | null;
    readonly hotlineVsVerifyLimit: number | null;
  };
  /**
   * fireErrorMs etc. from the highest offered rate; byOfferedRate has every Hotline latency step's probe; byPending the
   * probe's fire error at a fixed offered rate with 10^3, 10^4, 10^5 deadlines pending, keyed by that number.
   */
  readonly deadlines: DeadlineFigures & {
    readonly measuredAt: string | null;
    readonly byOfferedRate: Readonly<Record<string, DeadlineFigures>>;
    readonly byPending: Readonly<Record<string, PendingDeadlinePoint>>;
  };
  readonly scale: { readonly points: readonly ScalePoint[]; readonly note: string };
  /** Reviewer report (first page + aggregates) over synthetic relay databases of growing size. */
  readonly review: { readonly points: readonly ReviewReportPoint[] } | { readonly skipped: string };
  /** Real HotlineClients through the relay (client crypto included), beside the relay figures above (pre-built envelopes). */
  readonly endToEnd: EndToEndFigures | { readonly skipped: string };
  /** What the evidence model costs: its signatures (µs) and a real export bundle per 10^3 notices. */
  readonly evidence: EvidenceFigures | { readonly skipped: string };
  /** What post-quantum hybrid key wrapping costs a client, against X25519 alone in the same run. */
  readonly hybridWrap: HybridWrapFigures | { readonly skipped: string };
  readonly profile: ProfileSummary | { readonly skipped: string };
  readonly notes: readonly string[];
  readonly error?: string;
}

export function writeResults(path: string, results: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}
