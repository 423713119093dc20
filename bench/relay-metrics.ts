// The relay's own Prometheus figures after a step (GET /metrics): group-commit batch size and duration, deadline fire error.
import { round } from './stats.ts';

export interface RelayMetricsSnapshot {
  readonly commits: number;
  readonly meanCommitMs: number | null;
  readonly meanBatch: number | null;
  readonly deadlineFires: number;
  readonly meanDeadlineFireErrorMs: number | null;
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

function mean(sum: number, count: number, scale: number): number | null {
  return count > 0 && Number.isFinite(sum) ? round((sum / count) * scale, 2) : null;
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
    };
  } catch {
    return null;
  }
}
