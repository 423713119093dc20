// The relay's own Prometheus figures after a step (GET /metrics): group-commit batch size and duration, deadline fire error.
import { round } from './stats.ts';

export interface RelayMetricsSnapshot {
  readonly commits: number;
  readonly meanCommitMs: number | null;
  readonly meanBatch: number | null;
  readonly deadlineFires: number;
  readonly meanDeadlineFireErrorMs: number | null;
  /** The relay's event-loop delay since the previous scrape (prom-client resets it on every scrape), p99 and max. */
  readonly eventLoopLagP99Ms: number | null;
  readonly eventLoopLagMaxMs: number | null;
  /** Cumulative buckets of hotline_accept_seconds (send frame → accepted reply, measured inside the relay). */
  readonly acceptBuckets: readonly { readonly le: number; readonly count: number }[];
}

/** The relay's own accept latency over a step, from its histogram: the difference of two scrapes. */
export interface RelayAcceptFigures {
  readonly count: number;
  /** Upper bound of the histogram bucket that holds the 99th percentile (ms); Infinity past the last bucket. */
  readonly p99AtMostMs: number | null;
  readonly within10msPercent: number | null;
}

export function relayAcceptFigures(before: RelayMetricsSnapshot | null, after: RelayMetricsSnapshot | null): RelayAcceptFigures | null {
  if (!after || after.acceptBuckets.length === 0) return null;
  const earlier = new Map((before?.acceptBuckets ?? []).map((b) => [b.le, b.count]));
  const buckets = after.acceptBuckets.map((b) => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) }));
  const total = buckets[buckets.length - 1]?.count ?? 0;
  if (total <= 0) return { count: 0, p99AtMostMs: null, within10msPercent: null };
  const p99 = buckets.find((b) => b.count >= 0.99 * total);
  const within10 = buckets.find((b) => b.le === 0.01);
  return {
    count: total,
    p99AtMostMs: p99 ? (Number.isFinite(p99.le) ? round(p99.le * 1000, 1) : Infinity) : null,
    within10msPercent: within10 ? round((within10.count / total) * 100, 2) : null,
  };
}

function acceptBuckets(text: string): { le: number; count: number }[] {
  const out: { le: number; count: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^hotline_accept_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line);
    if (m) out.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
  }
  return out.sort((a, b) => a.le - b.le);
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

function mean(sum: number, count: number, scale: number): number | null {
  return count > 0 && Number.isFinite(sum) ? round((sum / count) * scale, 2) : null;
}

function milliseconds(seconds: number): number | null {
  return Number.isFinite(seconds) ? round(seconds * 1000, 2) : null;
}

/** Null when the endpoint or the metrics are missing (an older or newer relay). `metricsToken`: DIR/metrics.token. */
export async function scrapeRelayMetrics(relay: { readonly httpUrl: string; readonly metricsToken: string }): Promise<RelayMetricsSnapshot | null> {
  try {
    const res = await fetch(`${relay.httpUrl}/metrics`, { headers: { authorization: `Bearer ${relay.metricsToken}` } });
    if (!res.ok) return null;
    const text = await res.text();
    const commits = metricValue(text, 'hotline_commit_seconds_count');
    const fires = metricValue(text, 'hotline_deadline_fire_error_seconds_count');
    return {
      commits: Number.isFinite(commits) ? commits : 0,
      meanCommitMs: mean(metricValue(text, 'hotline_commit_seconds_sum'), commits, 1000),
      meanBatch: mean(metricValue(text, 'hotline_commit_batch_size_sum'), metricValue(text, 'hotline_commit_batch_size_count'), 1),
      deadlineFires: Number.isFinite(fires) ? fires : 0,
      meanDeadlineFireErrorMs: mean(metricValue(text, 'hotline_deadline_fire_error_seconds_sum'), fires, 1000),
      eventLoopLagP99Ms: milliseconds(metricValue(text, 'hotline_nodejs_eventloop_lag_p99_seconds')),
      eventLoopLagMaxMs: milliseconds(metricValue(text, 'hotline_nodejs_eventloop_lag_max_seconds')),
      acceptBuckets: acceptBuckets(text),
    };
  } catch {
    return null;
  }
}
