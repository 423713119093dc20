// The drill report: per inject timing from the relay's records, participants' drill messages, totals; JSON and Markdown.
import { formatDuration, type Level, type TimingRecord } from '../../shared/index.ts';
import type { DrillScenario } from './scenario.ts';

export interface InjectOutcome {
  readonly index: number;
  readonly atMs: number;
  readonly to: string;
  readonly level: Level;
  readonly subject: string | null;
  readonly id: string | null;
  readonly sentAt: number | null;
  readonly acceptedAt: number | null;
  readonly deliveredAt: number | null;
  readonly deliveredTo: number;
  readonly ackedAt: number | null;
  readonly ackedBy: string | null;
  readonly timeToAckMs: number | null;
  readonly ackDeadline: number | null;
  readonly met: boolean | null;
  readonly lateByMs: number | null;
  readonly escalation: readonly { action: string; due: number; firedAt: number | null; cancelled: boolean }[];
}

export interface DrillMessage {
  readonly id: string;
  readonly kind: string;
  readonly fromState: string;
  readonly toState: string;
  readonly level: string | null;
  readonly acceptedAt: number;
  readonly refs: readonly string[];
  readonly fromName: string | null;
}

/** A MISSING alarm this PoC kept on the drill's channel: a message that never arrived during (or around) the drill. */
export interface DrillAlarm {
  readonly code: string;
  readonly message: string;
  readonly at: number;
}

export interface DrillReport {
  readonly drill: {
    readonly drillId: string;
    readonly name: string;
    readonly channel: string;
    readonly participants: readonly string[];
    readonly timeScale: number;
    /** Each level's acknowledgement deadline in this drill (wall clock): the scenario's, else the charter's, divided by timeScale. */
    readonly deadlines: Partial<Record<Level, number>>;
    readonly startedAt: number;
    readonly endedAt: number | null;
  };
  readonly injects: readonly InjectOutcome[];
  readonly messages: readonly DrillMessage[];
  /** MISSING alarms of the drill's channel held by the PoC that ran the drill. */
  readonly missing: readonly DrillAlarm[];
  readonly totals: {
    readonly injects: number;
    readonly acknowledged: number;
    readonly missed: number;
    readonly medianTimeToAckMs: number | null;
    readonly p95TimeToAckMs: number | null;
    readonly withinDeadlineShare: number | null;
  };
}

/** Linear-interpolated percentile (same convention as the review report). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return Math.round(a + (b - a) * (rank - lo));
}

export function injectOutcome(inject: DrillScenario['injects'][number], record: TimingRecord | null): InjectOutcome {
  return {
    index: inject.index,
    atMs: inject.atMs,
    to: inject.to,
    level: inject.level,
    subject: inject.subject,
    id: record?.id ?? null,
    sentAt: record?.sentAt ?? null,
    acceptedAt: record?.acceptedAt ?? null,
    deliveredAt: record?.deliveredAt ?? null,
    deliveredTo: record?.deliveredTo ?? 0,
    ackedAt: record?.ackedAt ?? null,
    ackedBy: record?.ackedBy ? (record.ackedBy.name ?? record.ackedBy.kid) : null,
    timeToAckMs: record?.timeToAckMs ?? null,
    ackDeadline: record?.ackDeadline ?? null,
    met: record?.met ?? null,
    lateByMs: record?.lateByMs ?? null,
    escalation: (record?.escalation ?? []).map((s) => ({ action: s.action, due: s.due, firedAt: s.firedAt, cancelled: s.cancelledAt !== null })),
  };
}

export function buildReport(drill: DrillReport['drill'], injects: readonly InjectOutcome[], messages: readonly DrillMessage[], missing: readonly DrillAlarm[] = []): DrillReport {
  const times = injects.map((i) => i.timeToAckMs).filter((t): t is number => t !== null).sort((a, b) => a - b);
  const decided = injects.filter((i) => i.met !== null);
  return {
    drill,
    injects,
    messages,
    missing,
    totals: {
      injects: injects.length,
      acknowledged: injects.filter((i) => i.ackedAt !== null).length,
      missed: injects.filter((i) => i.met === false).length,
      medianTimeToAckMs: percentile(times, 50),
      p95TimeToAckMs: percentile(times, 95),
      withinDeadlineShare: decided.length ? decided.filter((i) => i.met === true).length / decided.length : null,
    },
  };
}

const iso = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString().replace('.000Z', 'Z'));
const dur = (ms: number | null) => (ms === null ? '—' : formatDuration(ms));
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function reportMarkdown(r: DrillReport): string {
  const t = r.totals;
  const lines = [
    `# DRILL REPORT — ${cell(r.drill.name)}`,
    '',
    '> **DRILL — EXERCISE ONLY.** Every envelope of this drill carries the drill mark in its signed header.',
    '',
    `- Drill id: \`${r.drill.drillId}\` on channel ${r.drill.channel} (participants ${r.drill.participants.join(', ')})`,
    `- Started ${iso(r.drill.startedAt)}, ended ${iso(r.drill.endedAt)}; time scale ${r.drill.timeScale}×`,
    `- Deadlines (wall clock, scaled by the time scale): ${Object.entries(r.drill.deadlines).map(([l, ms]) => `${l} ${dur(ms ?? null)}`).join(', ') || 'the channel charter\'s'}`,
    '',
    '## Totals',
    '',
    `- Injects: ${t.injects}; acknowledged: ${t.acknowledged}; missed deadline: ${t.missed}`,
    `- Time to acknowledge: median ${dur(t.medianTimeToAckMs)}, p95 ${dur(t.p95TimeToAckMs)}`,
    `- Within deadline: ${t.withinDeadlineShare === null ? '—' : `${Math.round(t.withinDeadlineShare * 100)}%`}`,
    '',
    '## Injects',
    '',
    '| # | to | level | subject | accepted | delivered | acknowledged (by) | time to ack | deadline | outcome |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.injects.map((i) => {
      const outcome = i.met === true ? 'met' : i.met === false ? (i.ackedAt === null ? '**MISSED — not acknowledged**' : `**LATE** by ${dur(i.lateByMs)}`) : 'pending';
      return `| ${i.index} | ${i.to} | ${i.level} | ${cell(i.subject ?? '')} | ${iso(i.acceptedAt)} | ${iso(i.deliveredAt)} | ${i.ackedAt === null ? '—' : `${iso(i.ackedAt)} (${cell(i.ackedBy ?? '?')})`} | ${dur(i.timeToAckMs)} | ${iso(i.ackDeadline)} | ${outcome} |`;
    }),
    '',
    '## Escalation steps',
    '',
    ...r.injects.flatMap((i) => {
      const fired = i.escalation.filter((s) => s.firedAt !== null);
      if (fired.length === 0) return [];
      return [`- Inject ${i.index} (${i.level} to ${i.to}): ${fired.map((s) => `${s.action} at ${iso(s.firedAt)} (due ${iso(s.due)})`).join('; ')}`];
    }),
    ...(r.injects.some((i) => i.escalation.some((s) => s.firedAt !== null)) ? [] : ['- none fired']),
    '',
    '## Messages that never arrived',
    '',
    ...(r.missing.length ? r.missing.map((a) => `- **MISSING** (${iso(a.at)}): ${cell(a.message)}`) : ['- none: every sender chain on the channel is complete']),
    '',
    '## Participants\' drill messages',
    '',
    ...(r.messages.length
      ? ['| accepted | kind | from | to | level | re |', '|---|---|---|---|---|---|', ...r.messages.map((m) => `| ${iso(m.acceptedAt)} | ${m.kind} | ${m.fromState}${m.fromName ? ` (${cell(m.fromName)})` : ''} | ${m.toState} | ${m.level ?? ''} | ${m.refs.map((x) => x.slice(0, 13)).join(', ')} |`)]
      : ['- none']),
    '',
  ];
  return lines.join('\n');
}
