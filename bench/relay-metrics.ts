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

/** Null when the endpoint or the metrics are missing (an older or newer relay). */
export async function scrapeRelayMetrics(httpUrl: string): Promise<RelayMetricsSnapshot | null> {
  try {
    const res = await fetch(`${httpUrl}/metrics`);
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
    };
  } catch {
    return null;
  }
}
