// Runs a drill as its director: registers it, sends each inject at its time as the counterpart state, follows it to the end, builds the report.
import { HotlineError, timingRecordSchema, type Level, type TimingRecord } from '../../shared/index.ts';
import type { HotlineClient } from '../hotline-client.ts';
import { buildReport, injectOutcome, type DrillMessage, type DrillReport } from './report.ts';
import type { DrillScenario } from './scenario.ts';

export interface DrillProgress {
  readonly sent: number;
  readonly total: number;
  readonly delivered: number;
  readonly acked: number;
  readonly overdue: number;
  readonly elapsedMs: number;
}

export interface DrillRunOptions {
  readonly drillId: string;
  readonly pollMs?: number;
  /** Stop waiting this long after the last inject's last escalation step would be due (safety net). */
  readonly graceMs?: number;
  readonly onProgress?: (p: DrillProgress) => void;
  readonly onInjectSent?: (index: number, id: string) => void;
  /** Once the drill is registered: its deadlines and how long it runs when nobody acknowledges (wall clock). */
  readonly onStart?: (plan: DrillPlan) => void;
}

export interface DrillPlan {
  readonly deadlines: Partial<Record<Level, number>>;
  /** When the last inject is sent, from the start. */
  readonly lastInjectMs: number;
  /** About how long the run lasts at most: the last inject, then the longest deadline and its escalation (default policy: to 150%). */
  readonly longestMs: number;
}

/** A slug for drill ids: letters, digits and dashes, with the start time so reruns do not collide. */
export function drillIdFor(name: string, now: number): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'drill';
  return `${slug}-${new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
}

/**
 * Every acknowledgement deadline of a drill, in wall-clock ms, for the levels its injects use: the scenario's own
 * `deadlines:` (already divided by timeScale), else the channel charter's divided by timeScale. Each inject carries
 * its figure in its signed drill mark (ackWithinMs), which the relay and every client take instead of the charter's.
 * @example drillDeadlines(scenario, channel.deadlines) // { PRIORITY: 240_000, FLASH: 10_000 } at timeScale 60
 */
export function drillDeadlines(scenario: DrillScenario, channelDeadlines: Partial<Record<Level, number>>): Partial<Record<Level, number>> {
  const table: Partial<Record<Level, number>> = {};
  for (const { level } of scenario.injects) {
    const own = scenario.deadlines[level];
    const charter = channelDeadlines[level];
    if (own !== undefined) table[level] = own;
    else if (charter !== undefined) table[level] = Math.max(MIN_DRILL_DEADLINE_MS, Math.round(charter / scenario.timeScale));
  }
  return table;
}

/** The shortest deadline a drill mark may carry (shared drillMarkSchema: ackWithinMs ≥ 100 ms). */
const MIN_DRILL_DEADLINE_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** An inject is finished when acknowledged, or when every escalation step of its deadline has fired. */
function finished(r: TimingRecord, now: number): boolean {
  if (r.ackedAt !== null) return true;
  const steps = r.escalation.filter((s) => s.id === r.id);
  if (steps.length === 0) return now > r.ackDeadline;
  return steps.every((s) => s.firedAt !== null || s.cancelledAt !== null);
}

export async function runDrill(client: HotlineClient, scenario: DrillScenario, options: DrillRunOptions): Promise<DrillReport> {
  if (client.profile.role !== 'director') {
    throw new HotlineError('WRONG_ROLE', 'drills are run by a drill director: join with an invite for --role director');
  }
  const [a, b] = scenario.participants;
  const channel = client.channels.find((c) => c.states.includes(a) && c.states.includes(b));
  if (!channel) throw new HotlineError('UNKNOWN_CHANNEL', `no channel between ${a} and ${b} on this relay: the operator must open it first`);
  const pollMs = options.pollMs ?? 500;
  const deadlines = drillDeadlines(scenario, channel.deadlines);
  await client.startDrill({ drillId: options.drillId, name: scenario.name, channel: channel.id, timeScale: scenario.timeScale, deadlines });
  const lastInjectMs = Math.max(...scenario.injects.map((i) => i.atMs / scenario.timeScale));
  const longestDeadline = Math.max(0, ...Object.values(deadlines).filter((d): d is number => d !== undefined));
  options.onStart?.({ deadlines, lastInjectMs, longestMs: lastInjectMs + longestDeadline * 1.5 });
  const started = Date.now();
  const sentIds = new Map<number, string>();
  const byId = new Map<string, TimingRecord>();
  let messages: DrillMessage[] = [];
  const director = client.identity.kid;

  const poll = async () => {
    const status = await client.drillStatus(options.drillId);
    for (const raw of status.records) {
      const parsed = timingRecordSchema.safeParse(raw);
      if (parsed.success) byId.set(parsed.data.id, parsed.data);
    }
    messages = status.messages
      .filter((m) => m.from !== director && m.kind !== 'receipt')
      .map((m) => ({
        id: String(m.id),
        kind: String(m.kind),
        fromState: String(m.fromState),
        toState: String(m.toState),
        level: typeof m.level === 'string' ? m.level : null,
        acceptedAt: Number(m.acceptedAt),
        refs: Array.isArray(m.refs) ? m.refs.map(String) : [],
        fromName: typeof m.from === 'string' ? client.nameOf(m.from) : null,
      }));
    const records = [...sentIds.values()].map((id) => byId.get(id)).filter((r): r is TimingRecord => r !== undefined);
    options.onProgress?.({
      sent: sentIds.size,
      total: scenario.injects.length,
      delivered: records.filter((r) => r.deliveredAt !== null).length,
      acked: records.filter((r) => r.ackedAt !== null).length,
      overdue: records.filter((r) => r.ackedAt === null && r.escalation.some((s) => s.action === 'overdue' && s.firedAt !== null)).length,
      elapsedMs: Date.now() - started,
    });
    return status.serverTime;
  };

  for (const inject of scenario.injects) {
    const dueAt = started + inject.atMs / scenario.timeScale;
    while (Date.now() < dueAt) {
      await sleep(Math.min(pollMs, dueAt - Date.now()));
      if (Date.now() < dueAt) await poll();
    }
    const playedBy = inject.to === a ? b : a;
    const result = await client.send({
      toState: inject.to,
      asState: playedBy,
      level: inject.level,
      subject: inject.subject,
      text: inject.text,
      template: inject.template,
      tlp: inject.tlp,
      // The drill's deadline for this level (scaled by timeScale) travels signed in the header, so every client can check the relay's.
      drill: { drillId: options.drillId, inject: inject.index, ...(deadlines[inject.level] !== undefined ? { ackWithinMs: deadlines[inject.level] } : {}) },
    });
    sentIds.set(inject.index, result.id);
    options.onInjectSent?.(inject.index, result.id);
  }

  const maxDeadline = Math.max(...scenario.injects.map((i) => deadlines[i.level] ?? channel.deadlines[i.level] ?? 0));
  const giveUpAt = Date.now() + maxDeadline * 1.6 + (options.graceMs ?? 30_000);
  for (;;) {
    const serverNow = await poll();
    const records = [...sentIds.values()].map((id) => byId.get(id));
    if (records.every((r) => r !== undefined && finished(r, serverNow))) break;
    if (Date.now() > giveUpAt) break;
    await sleep(pollMs);
  }
  await client.endDrill(options.drillId);
  const final = await client.drillStatus(options.drillId);
  for (const raw of final.records) {
    const parsed = timingRecordSchema.safeParse(raw);
    if (parsed.success) byId.set(parsed.data.id, parsed.data);
  }
  const injects = scenario.injects.map((inj) => injectOutcome(inj, byId.get(sentIds.get(inj.index) ?? '') ?? null));
  return buildReport(
    {
      drillId: options.drillId,
      name: scenario.name,
      channel: channel.id,
      participants: scenario.participants,
      timeScale: scenario.timeScale,
      deadlines,
      startedAt: final.drill.startedAt,
      endedAt: final.drill.endedAt,
    },
    injects,
    messages,
    client.history.alarms({ code: 'MISSING', channel: channel.id }).filter((a) => a.at >= final.drill.startedAt),
  );
}
