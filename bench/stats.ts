// Latency distributions and rounding for bench figures: percentiles over recorded samples.

/** p50/p90/p99/max of a set of samples, in the samples' unit. */
export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Rounds to `digits` decimals; keeps JSON output readable. */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Nearest-rank percentiles; null when there are no samples. */
export function summarise(samples: readonly number[], digits = 2): Distribution | null {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50), digits),
    p90: round(percentile(sorted, 90), digits),
    p99: round(percentile(sorted, 99), digits),
    max: round(sorted[sorted.length - 1] ?? Number.NaN, digits),
    mean: round(sum / sorted.length, digits),
  };
}

/** Keeps at most `cap` samples so a long step cannot grow memory without bound. */
export class SampleRecorder {
  private readonly values: number[] = [];
  private dropped = 0;

  constructor(private readonly cap = 2_000_000) {}

  add(value: number): void {
    if (this.values.length < this.cap) this.values.push(value);
    else this.dropped++;
  }

  get count(): number {
    return this.values.length + this.dropped;
  }

  summary(digits = 2): Distribution | null {
    return summarise(this.values, digits);
  }
}
