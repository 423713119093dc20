// Timing records and aggregates of notices, computed from the relay's store with read-only SQL: the one home of "how fast did each side acknowledge".
import type Database from 'better-sqlite3';
import {
  HotlineError,
  levels,
  timingCsvHeader,
  timingCsvRow,
  timingFilterSchema,
  type CheckOutcome,
  type CheckResult,
  type CheckResultsPage,
  type DrillMark,
  type EscalationAction,
  type Level,
  type TimeBucket,
  type TimingAggregates,
  type TimingFilter,
  type TimingRecord,
  type TimingRecordsPage,
  type TimingSeriesPoint,
  type TimingStats,
} from '../shared/index.ts';

/**
 * Indexes the review queries need, beside the store's own. Idempotent; run once at relay start on the writable
 * connection (on a large existing database the first run takes seconds).
 */
const reviewIndexes = [
  // Notices by acceptance time, covering every filter column: counts and pages never touch the table.
  `CREATE INDEX IF NOT EXISTS review_notices ON envelopes(accepted_at, channel, level, from_state, to_state, drill_id) WHERE kind = 'notice'`,
  // Raises of a thread with the ack that closed them: few rows, so the latest deadline of every thread is cheap.
  `CREATE INDEX IF NOT EXISTS review_raises ON ack_deadlines(thread_id, ack_id, env_rowid, deadline) WHERE id <> thread_id`,
  // Notices acknowledged since a time: how the aggregate columns catch up without rereading every notice.
  `CREATE INDEX IF NOT EXISTS review_acked ON ack_deadlines(acked_at) WHERE id = thread_id`,
];

export function prepareTimingIndexes(db: Database.Database): void {
  // No ANALYZE: statistics would change the plans of the relay's own queries; review queries name their index instead.
  for (const sql of reviewIndexes) db.exec(sql);
}

const statementCache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

function stmt(db: Database.Database, sql: string): Database.Statement {
  let cache = statementCache.get(db);
  if (!cache) statementCache.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s;
}

/** Paging of `timingRecords`: newest first. */
export interface TimingPaging {
  readonly limit?: number;
  readonly offset?: number;
}

type SqlParams = Record<string, string | number>;

/** WHERE clause over the notice alias `e` (envelopes) for a filter; `kind = 'notice'` lets SQLite use review_notices. */
function noticeWhere(input: TimingFilter): { sql: string; params: SqlParams } {
  const f = timingFilterSchema.parse(input);
  const conds = [`e.kind = 'notice'`];
  const params: SqlParams = {};
  if (f.channel !== undefined) {
    conds.push('e.channel = @channel');
    params.channel = f.channel;
  }
  if (f.since !== undefined) {
    conds.push('e.accepted_at >= @since');
    params.since = f.since;
  }
  if (f.until !== undefined) {
    conds.push('e.accepted_at < @until');
    params.until = f.until;
  }
  if (f.drill === 'drill') conds.push('e.drill_id IS NOT NULL');
  if (f.drill === 'real') conds.push('e.drill_id IS NULL');
  if (f.level !== undefined) {
    conds.push('e.level = @level');
    params.level = f.level;
  }
  if (f.drillId !== undefined) {
    conds.push('e.drill_id = @drillId');
    params.drillId = f.drillId;
  }
  if (f.state !== undefined) {
    conds.push('(e.from_state = @state OR e.to_state = @state)');
    params.state = f.state;
  }
  return { sql: conds.join(' AND '), params };
}

interface NoticeRow {
  rowid: number;
  id: string;
  channel: string;
  from_kid: string;
  from_state: string;
  to_state: string;
  level: Level;
  drill_id: string | null;
  inject: number | null;
  /** The drill mark's own acknowledgement deadline (a drill's scaled or overridden deadline), as signed in the header. */
  drill_ack_within: number | null;
  created_at: number;
  accepted_at: number;
  deadline: number | null;
  acked_at: number | null;
  ack_id: string | null;
  ack_kid: string | null;
}

const noticeColumns = `e.rowid AS rowid, e.id, e.channel, e.from_kid, e.from_state, e.to_state, e.level, e.drill_id, e.inject,
  CASE WHEN e.drill_id IS NULL THEN NULL ELSE json_extract(e.envelope_json, '$.header.drill.ackWithinMs') END AS drill_ack_within,
  e.created_at, e.accepted_at, d.deadline, d.acked_at, d.ack_id, d.ack_kid`;

/**
 * One page of timing records (newest first) and the number of notices the filter matches.
 * `now` is the relay's time: it decides whether an unacknowledged notice is already a miss (met false) or still open (null).
 * @example timingRecords(db, { channel: 'CN-US', drill: 'real' }, Date.now(), { limit: 50 }).records[0]?.timeToAckMs
 */
export function timingRecords(db: Database.Database, filter: TimingFilter, now: number, paging: TimingPaging = {}): TimingRecordsPage {
  const limit = Math.max(1, Math.min(1000, Math.trunc(paging.limit ?? 50)));
  const offset = Math.max(0, Math.trunc(paging.offset ?? 0));
  const where = noticeWhere(filter);
  const total = (stmt(db, `SELECT COUNT(*) AS n FROM envelopes e INDEXED BY review_notices WHERE ${where.sql}`).get(where.params) as { n: number }).n;
  // The page walks an index in (accepted_at, rowid) order (the store's kind or channel index) and stops after `limit`;
  // review_notices cannot give that order, so it is left to the planner.
  const rows = stmt(
    db,
    `SELECT ${noticeColumns} FROM envelopes e LEFT JOIN ack_deadlines d ON d.env_rowid = e.rowid
     WHERE ${where.sql} ORDER BY e.accepted_at DESC, e.rowid DESC LIMIT @limit OFFSET @offset`,
  ).all({ ...where.params, limit, offset }) as NoticeRow[];
  return { total, limit, offset, now, records: recordsOf(db, rows, now) };
}

/** Timing records of the given notice ids (unknown ids and non-notices are left out), in the order given. */
export function timingRecordsFor(db: Database.Database, ids: readonly string[], now: number): TimingRecord[] {
  const rows = stmt(
    db,
    `SELECT ${noticeColumns} FROM json_each(@ids) j CROSS JOIN envelopes e ON e.id = j.value LEFT JOIN ack_deadlines d ON d.env_rowid = e.rowid
     WHERE e.kind = 'notice' ORDER BY j.key`,
  ).all({ ids: JSON.stringify(ids) }) as NoticeRow[];
  return recordsOf(db, rows, now);
}

/** Ids of every notice the filter matches, oldest first (for exports: feed them to `timingRecordsFor` in chunks). */
export function matchingNoticeIds(db: Database.Database, filter: TimingFilter): string[] {
  const where = noticeWhere(filter);
  return (stmt(db, `SELECT e.id FROM envelopes e INDEXED BY review_notices WHERE ${where.sql} ORDER BY e.accepted_at, e.rowid`).pluck().all(where.params) as string[]);
}

/**
 * Every record the filter matches as CSV, newest first as the dashboard's table (the columns of `timingCsvRow`): the
 * header line, then one chunk per 500 records. The ids are fixed by the first chunk; a caller yields to the event loop
 * between chunks, so a large download does not hold up the relay (measured on the bench's 10^5-envelope database,
 * 2-core machine at load 13: 25 519 rows, 8.4 MB, 2.5–3.1 s in all, the longest step 0.22–0.25 s).
 */
export function* timingRecordsCsv(db: Database.Database, filter: TimingFilter, now: number): Generator<string> {
  const ids = matchingNoticeIds(db, filter).reverse();
  yield `${timingCsvHeader}\n`;
  for (let i = 0; i < ids.length; i += 500) yield timingRecordsFor(db, ids.slice(i, i + 500), now).map((r) => `${timingCsvRow(r)}\n`).join('');
}

interface RaiseRow {
  id: string;
  thread_id: string;
  level: Level;
  accepted_at: number;
  deadline: number;
  ack_id: string | null;
}

interface StepRow {
  id: string;
  thread_id: string;
  step: number;
  action: EscalationAction;
  due_at: number;
  fired_at: number | null;
  cancelled_at: number | null;
  audit_seq: number | null;
}

/**
 * Fills in raises, deliveries, escalation steps and names for a set of notice rows: a fixed number of queries, whatever
 * the page size. CROSS JOIN pins the id list as the outer loop (SQLite would otherwise start from every receipt).
 */
function recordsOf(db: Database.Database, rows: readonly NoticeRow[], now: number): TimingRecord[] {
  if (rows.length === 0) return [];
  const ids = JSON.stringify(rows.map((r) => r.id));
  const raises = stmt(
    db,
    `SELECT d.id, d.thread_id, d.level, d.accepted_at, d.deadline, d.ack_id FROM json_each(@ids) j
     CROSS JOIN ack_deadlines d ON d.thread_id = j.value WHERE d.id <> d.thread_id ORDER BY d.env_rowid`,
  ).all({ ids }) as RaiseRow[];
  const deliveries = stmt(
    db,
    `SELECT n.id AS id, MIN(e.accepted_at) AS first, COUNT(DISTINCT e.from_kid) AS devices FROM json_each(@ids) j
     CROSS JOIN envelopes n ON n.id = j.value CROSS JOIN envelope_refs r ON r.ref_id = n.id CROSS JOIN envelopes e ON e.rowid = r.env_rowid
     WHERE e.kind = 'receipt' AND e.from_state = n.to_state AND json_extract(e.refs_json, '$[0]') = n.id GROUP BY n.id`,
  ).all({ ids }) as { id: string; first: number; devices: number }[];
  const steps = stmt(
    db,
    `SELECT d.id, d.thread_id, s.step, s.action, s.due_at, s.fired_at, s.cancelled_at, s.audit_seq FROM json_each(@ids) j
     CROSS JOIN ack_deadlines d ON d.thread_id = j.value CROSS JOIN escalation_steps s ON s.env_rowid = d.env_rowid ORDER BY d.env_rowid, s.step`,
  ).all({ ids }) as StepRow[];
  const kids = JSON.stringify([...new Set(rows.flatMap((r) => (r.ack_kid ? [r.from_kid, r.ack_kid] : [r.from_kid])))]);
  const names = new Map(
    (stmt(db, 'SELECT m.kid, m.name FROM json_each(@kids) j CROSS JOIN members m ON m.kid = j.value').all({ kids }) as { kid: string; name: string }[]).map((m) => [
      m.kid,
      m.name,
    ]),
  );
  const raisesOf = groupBy(raises, (r) => r.thread_id);
  const stepsOf = groupBy(steps, (s) => s.thread_id);
  const deliveredOf = new Map(deliveries.map((d) => [d.id, d]));
  return rows.map((r) => {
    const threadRaises = raisesOf.get(r.id) ?? [];
    if (r.deadline === null) throw new HotlineError('INTERNAL', `notice ${r.id} has no acknowledgement deadline on record`);
    // Judged as the relay judges the first ack: against the latest deadline of the thread that ack closed (or, unacked, the latest of all).
    const judgedBy = threadRaises.filter((x) => x.ack_id === r.ack_id).pop();
    const deadline = judgedBy?.deadline ?? r.deadline;
    const acked = r.acked_at !== null;
    const delivered = deliveredOf.get(r.id);
    // The mark as signed: a reviewer's verifier compares it with the header, ackWithinMs included.
    const drill: DrillMark | null =
      r.drill_id === null ? null : { drillId: r.drill_id, inject: r.inject, ...(r.drill_ack_within !== null ? { ackWithinMs: r.drill_ack_within } : {}) };
    return {
      id: r.id,
      channel: r.channel,
      kind: 'notice',
      fromState: r.from_state,
      toState: r.to_state,
      level: r.level,
      drill,
      from: r.from_kid,
      fromName: names.get(r.from_kid) ?? null,
      sentAt: r.created_at,
      acceptedAt: r.accepted_at,
      clockSkewMs: r.accepted_at - r.created_at,
      deliveredAt: delivered?.first ?? null,
      deliveredTo: delivered?.devices ?? 0,
      ackedAt: r.acked_at,
      ackId: r.ack_id,
      ackedBy: r.ack_kid === null ? null : { kid: r.ack_kid, name: names.get(r.ack_kid) ?? null },
      ackDeadline: deadline,
      met: acked ? (r.acked_at as number) <= deadline : now > deadline ? false : null,
      lateByMs: acked ? Math.max(0, (r.acked_at as number) - deadline) : null,
      timeToAckMs: acked ? (r.acked_at as number) - r.accepted_at : null,
      escalation: (stepsOf.get(r.id) ?? []).map((s) => ({
        id: s.id,
        step: s.step,
        action: s.action,
        due: s.due_at,
        firedAt: s.fired_at,
        cancelledAt: s.cancelled_at,
        auditSeq: s.audit_seq,
      })),
      raises: threadRaises.map((x) => ({ id: x.id, level: x.level, acceptedAt: x.accepted_at, ackDeadline: x.deadline })),
    };
  });
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

const bucketMs: Record<TimeBucket, number> = { hour: 3600_000, day: 86_400_000 };

/** How far back acks are re-read on each catch-up: covers commits stamped just before the previous one read. */
const ACK_OVERLAP_MS = 60_000;

/** A growable column of numbers. */
class Column<T extends Float64Array | Int32Array | Uint8Array> {
  constructor(
    public data: T,
    private readonly make: (n: number) => T,
  ) {}

  ensure(n: number): void {
    if (n <= this.data.length) return;
    const next = this.make(Math.max(n, this.data.length * 2));
    next.set(this.data);
    this.data = next;
  }
}

const f64 = (n: number) => new Float64Array(n);
const i32 = (n: number) => new Int32Array(n);
const u8 = (n: number) => new Uint8Array(n);

interface NoticeLoadRow {
  rowid: number;
  accepted_at: number;
  channel: string;
  level: Level;
  from_state: string;
  to_state: string;
  drill_id: string | null;
  deadline: number;
  acked_at: number | null;
}

/**
 * Every notice as a few numeric columns in memory, for aggregates. SQL cannot group and take percentiles over 10^5+
 * notices within a dashboard's latency budget (measured: seconds at 10^6 envelopes, see bench/review-report.ts), so the
 * columns are loaded once with one index-only scan and then caught up on each call with three small range queries:
 * notices and raises above the last envelope rowid seen, and notices acknowledged since the last call.
 */
export class TimingColumns {
  private n = 0;
  private readonly rowid = new Column(f64(1024), f64);
  private readonly acceptedAt = new Column(f64(1024), f64);
  /** NaN while unacknowledged. */
  private readonly ackedAt = new Column(f64(1024), f64);
  /** The deadline the thread's first ack is judged against (the latest raise's, when raised). */
  private readonly deadline = new Column(f64(1024), f64);
  private readonly level = new Column(u8(1024), u8);
  private readonly toState = new Column(i32(1024), i32);
  private readonly fromState = new Column(i32(1024), i32);
  private readonly channel = new Column(i32(1024), i32);
  /** Drill id (interned), -1 for a real notice. */
  private readonly drill = new Column(i32(1024), i32);
  private readonly position = new Map<number, number>();
  /** Notices with at least one raise: their judged deadline is recomputed when they are raised or acknowledged. */
  private readonly raised = new Set<number>();
  private readonly names: string[] = [];
  private readonly nameIndex = new Map<string, number>();
  private lastRowid = 0;
  private lastCatchUp: number | null = null;

  constructor(private readonly db: Database.Database) {}

  private intern(name: string): number {
    let i = this.nameIndex.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(name);
      this.nameIndex.set(name, i);
    }
    return i;
  }

  /** Brings the columns up to the database's current state (one read snapshot). */
  catchUp(now: number): void {
    this.db.transaction(() => {
      const maxRowid = (stmt(this.db, 'SELECT COALESCE(MAX(rowid), 0) AS m FROM envelopes').get() as { m: number }).m;
      const since = this.lastCatchUp === null ? null : this.lastCatchUp - ACK_OVERLAP_MS;
      const touched = new Set<number>();
      if (this.lastCatchUp === null) {
        const rows = stmt(
          this.db,
          `SELECT e.rowid AS rowid, e.accepted_at, e.channel, e.level, e.from_state, e.to_state, e.drill_id, d.deadline, d.acked_at
           FROM envelopes e INDEXED BY review_notices JOIN ack_deadlines d ON d.env_rowid = e.rowid WHERE e.kind = 'notice' AND e.rowid <= @maxRowid`,
        ).all({ maxRowid }) as NoticeLoadRow[];
        for (const r of rows) this.add(r);
        const raised = stmt(this.db, `SELECT DISTINCT n.env_rowid AS rowid FROM ack_deadlines r INDEXED BY review_raises JOIN ack_deadlines n ON n.id = r.thread_id WHERE r.id <> r.thread_id`)
          .pluck()
          .all() as number[];
        for (const rowid of raised) touched.add(rowid);
      } else if (maxRowid > this.lastRowid) {
        const rows = stmt(
          this.db,
          `SELECT e.rowid AS rowid, e.accepted_at, e.channel, e.level, e.from_state, e.to_state, e.drill_id, d.deadline, d.acked_at
           FROM envelopes e JOIN ack_deadlines d ON d.env_rowid = e.rowid WHERE e.rowid > @after AND e.rowid <= @maxRowid AND e.kind = 'notice'`,
        ).all({ after: this.lastRowid, maxRowid }) as NoticeLoadRow[];
        for (const r of rows) this.add(r);
        const raisedNow = stmt(
          this.db,
          `SELECT n.env_rowid FROM ack_deadlines r JOIN ack_deadlines n ON n.id = r.thread_id WHERE r.env_rowid > @after AND r.env_rowid <= @maxRowid AND r.id <> r.thread_id`,
        )
          .pluck()
          .all({ after: this.lastRowid, maxRowid }) as number[];
        for (const rowid of raisedNow) touched.add(rowid);
      }
      if (since !== null) {
        const acks = stmt(this.db, 'SELECT env_rowid, acked_at FROM ack_deadlines INDEXED BY review_acked WHERE acked_at >= @since AND id = thread_id').all({ since }) as {
          env_rowid: number;
          acked_at: number;
        }[];
        for (const a of acks) {
          const i = this.position.get(a.env_rowid);
          if (i === undefined) continue;
          this.ackedAt.data[i] = a.acked_at;
          if (this.raised.has(a.env_rowid)) touched.add(a.env_rowid);
        }
      }
      const judged = stmt(
        this.db,
        `SELECT COALESCE((SELECT r.deadline FROM ack_deadlines r WHERE r.thread_id = n.id AND r.id <> r.thread_id AND r.ack_id IS n.ack_id
           ORDER BY r.env_rowid DESC LIMIT 1), n.deadline) FROM ack_deadlines n WHERE n.env_rowid = ?`,
      ).pluck();
      for (const rowid of touched) {
        const i = this.position.get(rowid);
        if (i === undefined) continue;
        this.raised.add(rowid);
        this.deadline.data[i] = judged.get(rowid) as number;
      }
      this.lastRowid = maxRowid;
    })();
    this.lastCatchUp = now;
  }

  private add(r: NoticeLoadRow): void {
    if (this.position.has(r.rowid)) return;
    const i = this.n++;
    for (const c of [this.rowid, this.acceptedAt, this.ackedAt, this.deadline, this.level, this.toState, this.fromState, this.channel, this.drill]) c.ensure(this.n);
    this.rowid.data[i] = r.rowid;
    this.acceptedAt.data[i] = r.accepted_at;
    this.ackedAt.data[i] = r.acked_at ?? NaN;
    this.deadline.data[i] = r.deadline;
    this.level.data[i] = levels.indexOf(r.level);
    this.toState.data[i] = this.intern(r.to_state);
    this.fromState.data[i] = this.intern(r.from_state);
    this.channel.data[i] = this.intern(r.channel);
    this.drill.data[i] = r.drill_id === null ? -1 : this.intern(r.drill_id);
    this.position.set(r.rowid, i);
  }

  /** Positions of the notices a filter matches. */
  private select(input: TimingFilter): Int32Array {
    const f = timingFilterSchema.parse(input);
    const known = (name: string | undefined) => (name === undefined ? -2 : (this.nameIndex.get(name) ?? -3));
    const channel = known(f.channel);
    const state = known(f.state);
    const drillId = known(f.drillId);
    const level = f.level === undefined ? -1 : levels.indexOf(f.level);
    if (channel === -3 || state === -3 || drillId === -3) return new Int32Array(0);
    const since = f.since ?? -Infinity;
    const until = f.until ?? Infinity;
    const out = new Int32Array(this.n);
    let m = 0;
    const { acceptedAt, drill } = this;
    for (let i = 0; i < this.n; i++) {
      const at = acceptedAt.data[i] as number;
      if (at < since || at >= until) continue;
      if (channel >= 0 && this.channel.data[i] !== channel) continue;
      if (level >= 0 && this.level.data[i] !== level) continue;
      if (state >= 0 && this.toState.data[i] !== state && this.fromState.data[i] !== state) continue;
      const d = drill.data[i] as number;
      if (f.drill === 'drill' && d < 0) continue;
      if (f.drill === 'real' && d >= 0) continue;
      if (drillId >= 0 && d !== drillId) continue;
      out[m++] = i;
    }
    return out.subarray(0, m);
  }

  /** See `timingAggregates`. */
  aggregates(filter: TimingFilter, now: number, bucket: TimeBucket): TimingAggregates {
    this.catchUp(now);
    const sel = this.select(filter);
    const size = bucketMs[bucket];
    const groups = {
      all: new Map<number, Group>(),
      level: new Map<number, Group>(),
      state: new Map<number, Group>(),
      drill: new Map<number, Group>(),
      series: new Map<number, Group>(),
    };
    for (const i of sel) {
      const acked = this.ackedAt.data[i] as number;
      const accepted = this.acceptedAt.data[i] as number;
      const deadline = this.deadline.data[i] as number;
      const tta = Number.isNaN(acked) ? null : acked - accepted;
      const met = tta === null ? (now > deadline ? 0 : null) : acked <= deadline ? 1 : 0;
      const level = this.level.data[i] as number;
      tally(groups.all, 0, tta, met);
      tally(groups.level, level, tta, met);
      tally(groups.state, this.toState.data[i] as number, tta, met);
      tally(groups.drill, (this.drill.data[i] as number) >= 0 ? 1 : 0, tta, met);
      tally(groups.series, Math.floor(accepted / size) * size * 4 + level, tta, met);
    }
    const urgency = (key: string) => -levels.indexOf(key as Level);
    const stats = (key: string, g: Group | undefined): TimingStats => {
      const sorted = g ? Float64Array.from(g.ttas).sort() : new Float64Array(0);
      return {
        key,
        count: g?.count ?? 0,
        acked: sorted.length,
        decided: g?.decided ?? 0,
        met: g?.met ?? 0,
        medianMs: percentile(sorted, 0.5),
        p95Ms: percentile(sorted, 0.95),
        maxMs: sorted.length ? (sorted[sorted.length - 1] as number) : null,
        withinDeadline: g?.decided ? g.met / g.decided : null,
      };
    };
    return {
      now,
      overall: stats('all', groups.all.get(0)),
      byLevel: [...groups.level].map(([k, g]) => stats(levels[k] as Level, g)).sort((a, b) => urgency(a.key) - urgency(b.key)),
      byState: [...groups.state].map(([k, g]) => stats(this.names[k] as string, g)).sort((a, b) => a.key.localeCompare(b.key)),
      byDrill: [...groups.drill].map(([k, g]) => stats(k ? 'drill' : 'real', g)).sort((a, b) => b.key.localeCompare(a.key)),
      series: {
        bucket,
        points: [...groups.series]
          .map(([k, g]): TimingSeriesPoint => {
            const level = levels[k % 4] as Level;
            const sorted = Float64Array.from(g.ttas).sort();
            return { t: (k - (k % 4)) / 4, level, count: g.count, medianMs: percentile(sorted, 0.5), withinDeadline: g.decided ? g.met / g.decided : null };
          })
          .sort((a, b) => a.t - b.t || urgency(a.level) - urgency(b.level)),
      },
    };
  }
}

interface Group {
  count: number;
  decided: number;
  met: number;
  ttas: number[];
}

function tally(groups: Map<number, Group>, key: number, tta: number | null, met: 0 | 1 | null): void {
  let g = groups.get(key);
  if (!g) groups.set(key, (g = { count: 0, decided: 0, met: 0, ttas: [] }));
  g.count += 1;
  if (tta !== null) g.ttas.push(tta);
  if (met !== null) {
    g.decided += 1;
    g.met += met;
  }
}

/** Linear interpolation between closest ranks (SQL percentile_cont), rounded to the ms; null for no values. */
function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return Math.round(a + (b - a) * (pos - lo));
}

const columnsCache = new WeakMap<Database.Database, TimingColumns>();

/**
 * Aggregates over every notice the filter matches: per level, per recipient state, drill vs real and overall —
 * count, acknowledged, median / p95 / max time to acknowledge (percentile_cont), share within deadline — and a time
 * series per `bucket` and level (median time to acknowledge, share within deadline) for charts. A notice counts
 * towards the share once decided: acknowledged, or unacknowledged and past its deadline at `now`.
 * The first call on a database loads its notices into memory (see TimingColumns); later calls only catch up.
 * @example timingAggregates(db, { drill: 'real' }, Date.now(), 'day').byLevel.find((s) => s.key === 'FLASH')?.medianMs
 */
export function timingAggregates(db: Database.Database, filter: TimingFilter, now: number, bucket: TimeBucket = 'day'): TimingAggregates {
  let columns = columnsCache.get(db);
  if (!columns) columnsCache.set(db, (columns = new TimingColumns(db)));
  return columns.aggregates(filter, now, bucket);
}

/** Which communication checks a reviewer sees: asked keys of these states only (null: every state), started in [since, until). */
export interface CheckScope {
  readonly states: readonly string[] | null;
  readonly since?: number;
  readonly until?: number;
}

interface CheckRow {
  check_id: string;
  started_by: string;
  target_state: string | null;
  within_ms: number;
  started_at: number;
  deadline: number;
  ended_at: number | null;
}

interface CheckTargetRow {
  check_id: string;
  kid: string;
  state: string;
  role: CheckResult['targets'][number]['role'];
  name: string;
  received_at: number | null;
  acked_at: number | null;
}

/**
 * Communication checks, newest first, as far as a scope sees them: only the asked keys of its states, and the counts
 * over those (a check that asked none of them is left out, so a reviewer cannot even learn that it happened). An
 * asked key answered when its person's signed ack came by the deadline (as `CommunicationChecks.status` judges it),
 * late after it, missing when none came and the time is up, open before. Never a signature, never message text.
 * @example checkResults(db, { states: ['CN', 'US'] }, Date.now(), { limit: 10 }).checks[0]?.missing
 */
export function checkResults(db: Database.Database, scope: CheckScope, now: number, paging: TimingPaging = {}): CheckResultsPage {
  const limit = Math.max(1, Math.min(1000, Math.trunc(paging.limit ?? 20)));
  const offset = Math.max(0, Math.trunc(paging.offset ?? 0));
  const params = {
    states: scope.states === null ? null : JSON.stringify(scope.states),
    since: scope.since ?? null,
    until: scope.until ?? null,
  };
  const where = `(@since IS NULL OR c.started_at >= @since) AND (@until IS NULL OR c.started_at < @until)
    AND EXISTS (SELECT 1 FROM check_targets t WHERE t.check_id = c.check_id AND (@states IS NULL OR t.state IN (SELECT value FROM json_each(@states))))`;
  const total = (stmt(db, `SELECT COUNT(*) AS n FROM checks c WHERE ${where}`).get(params) as { n: number }).n;
  const rows = stmt(db, `SELECT c.* FROM checks c WHERE ${where} ORDER BY c.started_at DESC, c.check_id DESC LIMIT @limit OFFSET @offset`).all({ ...params, limit, offset }) as CheckRow[];
  const targets = stmt(
    db,
    `SELECT t.check_id, t.kid, t.state, t.role, t.name, t.received_at, t.acked_at FROM json_each(@ids) j CROSS JOIN check_targets t ON t.check_id = j.value
     WHERE @states IS NULL OR t.state IN (SELECT value FROM json_each(@states)) ORDER BY t.state, t.role, t.name`,
  ).all({ ids: JSON.stringify(rows.map((r) => r.check_id)), states: params.states }) as CheckTargetRow[];
  const targetsOf = groupBy(targets, (t) => t.check_id);
  const checks = rows.map((c): CheckResult => {
    const asked = (targetsOf.get(c.check_id) ?? []).map((t) => {
      const outcome: CheckOutcome =
        t.acked_at !== null ? (t.acked_at <= c.deadline ? 'answered' : 'late') : c.ended_at !== null || now > c.deadline ? 'missing' : 'open';
      return { kid: t.kid, state: t.state, role: t.role, name: t.name, receivedAt: t.received_at, ackedAt: t.acked_at, outcome };
    });
    const count = (o: CheckOutcome) => asked.filter((t) => t.outcome === o).length;
    return {
      checkId: c.check_id,
      startedBy: c.started_by,
      targetState: c.target_state,
      withinMs: c.within_ms,
      startedAt: c.started_at,
      deadline: c.deadline,
      endedAt: c.ended_at,
      asked: asked.length,
      answered: count('answered'),
      late: count('late'),
      missing: count('missing'),
      open: count('open'),
      targets: asked,
    };
  });
  return { total, limit, offset, now, states: scope.states === null ? null : [...scope.states], checks };
}
