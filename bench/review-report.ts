// Reviewer report latency: synthetic relay databases of 10^4, 10^5 and 10^6 envelopes, timed first page + aggregates; part of `npm run bench`, or alone: `npx tsx bench/review-report.ts [sizes...]`.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultAckDeadlines, type Level, type TimingFilter } from '../shared/index.ts';
import { RelayStore } from '../server/store.ts';
import { prepareTimingIndexes, timingAggregates, timingRecords } from '../server/timing-records.ts';

const DAY = 86_400_000;
const states = ['CN', 'US', 'RU', 'UK'];
const channels = [['CN', 'US'], ['RU', 'US'], ['CN', 'RU'], ['UK', 'US'], ['CN', 'UK'], ['RU', 'UK']].map(([a, b]) => ({ id: `${a}-${b}`, a: a as string, b: b as string }));
const levelShare: [Level, number][] = [['ROUTINE', 0.4], ['PRIORITY', 0.3], ['IMMEDIATE', 0.2], ['FLASH', 0.1]];

/** A small deterministic PRNG so every run builds the same database. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuid(n: number, at: number): string {
  const hex = at.toString(16).padStart(12, '0');
  const tail = n.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-${tail}`;
}

const kid = (label: string) => label.padEnd(43, 'A').slice(0, 43);
const fakeSig = 'S'.repeat(86);
const fakeHash = 'H'.repeat(43);

/** Fills `path` with about `envelopes` envelopes: per notice two delivery receipts, an ack for 90 % of them, a raise for 2 %. */
function generate(path: string, envelopes: number): { notices: number; envelopes: number } {
  const store = new RelayStore(path);
  const db = store.db;
  db.pragma('synchronous = OFF');
  const random = rng(42);
  const now = Date.UTC(2026, 11, 1);
  const start = now - 90 * DAY;
  for (const s of states) store.ensureState(s, start);
  const devices = new Map(states.map((s) => [s, [kid(`${s}poc1`), kid(`${s}poc2`)]]));
  for (const [s, kids] of devices) for (const k of kids) store.addMember({ kid: k, state: s, role: 'poc', name: `${s} duty officer ${k.slice(4, 5)}`, enrolledAt: start });
  const insertEnv = db.prepare(
    `INSERT INTO envelopes (id, hash, channel, kind, from_kid, from_state, to_state, level, drill_id, inject, seq, created_at, accepted_at, ack_deadline,
       refs_json, audit_seq, envelope_json, receipt_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertRef = db.prepare('INSERT INTO envelope_refs (ref_id, env_rowid) VALUES (?, ?)');
  const insertDeadline = db.prepare(
    `INSERT INTO ack_deadlines (env_rowid, id, thread_id, channel, level, from_kid, from_state, to_state, drill_json, recipients_json, accepted_at, deadline,
       overdue_at, acked_at, ack_id, ack_kid, late_by_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertStep = db.prepare('INSERT INTO escalation_steps (env_rowid, step, action, thread_id, due_at, fired_at, cancelled_at, audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const recipientsJson = (to: string) =>
    JSON.stringify((devices.get(to) ?? []).map((k) => ({ kid: k, prekeyId: fakeHash, ephemeralPub: fakeHash, wrappedKey: 'W'.repeat(96) })));
  let n = 0;
  let seq = 0;
  let made = 0;
  const insertOne = (id: string, kind: string, from: string, fromState: string, toState: string, channel: string, level: Level | null, drill: string | null, at: number, deadline: number | null, refs: string[]): number => {
    seq += 1;
    made += 1;
    const header = { v: 1, id, channel, kind, from, fromState, toState, level, drill: drill ? { drillId: drill, inject: 1 } : null, seq, createdAt: at - 40, refs };
    const envelopeJson = JSON.stringify({ header, recipients: JSON.parse(recipientsJson(toState)) as unknown, body: 'B'.repeat(160), sig: fakeSig });
    const receiptJson = JSON.stringify({ id, hash: fakeHash, acceptedAt: at, auditSeq: seq, ackDeadline: deadline, relay: kid('relay'), sig: fakeSig });
    const rowid = Number(
      insertEnv.run(id, fakeHash, channel, kind, from, fromState, toState, level, drill, drill ? 1 : null, seq, at - 40, at, deadline, JSON.stringify(refs), seq, envelopeJson, receiptJson)
        .lastInsertRowid,
    );
    for (const r of refs) insertRef.run(r, rowid);
    return rowid;
  };
  const batch = db.transaction((count: number) => {
    for (let i = 0; i < count && made < envelopes; i++) {
      n += 1;
      const channel = channels[Math.floor(random() * channels.length)] as (typeof channels)[number];
      const [fromState, toState] = random() < 0.5 ? [channel.a, channel.b] : [channel.b, channel.a];
      const x = random();
      let acc = 0;
      const level = (levelShare.find(([, share]) => (acc += share) >= x)?.[0] ?? 'ROUTINE') as Level;
      const drill = random() < 0.1 ? `drill-${Math.floor(random() * 20)}` : null;
      const at = start + Math.floor(((n * 4) / envelopes) * 90 * DAY) + Math.floor(random() * 1000);
      const duration = defaultAckDeadlines[level];
      const deadline = at + duration;
      const from = (devices.get(fromState) ?? [])[0] as string;
      const id = uuid(seq + 1, at);
      const rowid = insertOne(id, 'notice', from, fromState, toState, channel.id, level, drill, at, deadline, []);
      const recipients = devices.get(toState) ?? [];
      for (const [j, r] of recipients.entries()) insertOne(uuid(seq + 1, at + 200 + j), 'receipt', r, toState, fromState, channel.id, null, drill, at + 200 + j * 50, null, [id]);
      let raiseDeadline: number | null = null;
      let raiseRowid = 0;
      let raiseId = '';
      if (random() < 0.02 && level !== 'FLASH') {
        raiseId = uuid(seq + 1, at + 1000);
        raiseDeadline = at + 1000 + defaultAckDeadlines.FLASH;
        raiseRowid = insertOne(raiseId, 'raise', from, fromState, toState, channel.id, 'FLASH', drill, at + 1000, raiseDeadline, [id]);
      }
      const acked = random() < 0.9;
      // Time to acknowledge: most well within the deadline, a tail beyond it.
      const tta = Math.floor(duration * (random() < 0.85 ? random() * 0.6 : 0.6 + random() * 0.8)) + 1500;
      const ackedAt = acked ? at + tta : null;
      const ackId = acked ? uuid(seq + 1, at + tta) : null;
      if (acked) insertOne(ackId as string, 'ack', recipients[0] as string, toState, fromState, channel.id, null, drill, ackedAt as number, null, [id]);
      const judged = raiseDeadline ?? deadline;
      const late = ackedAt === null ? null : Math.max(0, ackedAt - judged);
      insertDeadline.run(rowid, id, id, channel.id, level, from, fromState, toState, JSON.stringify(drill ? { drillId: drill, inject: 1 } : null), JSON.stringify(recipients), at, deadline,
        ackedAt === null || ackedAt > deadline ? deadline : null, ackedAt, ackId, acked ? recipients[0] : null, ackedAt === null ? null : Math.max(0, ackedAt - deadline));
      if (raiseDeadline !== null) {
        insertDeadline.run(raiseRowid, raiseId, id, channel.id, 'FLASH', from, fromState, toState, 'null', JSON.stringify(recipients), at + 1000, raiseDeadline, null, ackedAt, ackId, acked ? recipients[0] : null, late);
      }
      const actions = ['overdue', 'page-alternates', 'notify-sender'];
      actions.forEach((action, step) => {
        const due = at + Math.round((duration * [100, 125, 150][step]!) / 100);
        const fired = (ackedAt === null || ackedAt > due) && due < now ? due + 3 : null;
        insertStep.run(rowid, step, action, id, due, fired, fired === null ? (ackedAt ?? null) : null, fired === null ? null : seq);
      });
    }
  });
  while (made < envelopes) batch(5000);
  store.close();
  return { notices: n, envelopes: made };
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** One filter's timings at one database size (medians of 5 runs, ms). */
export interface ReviewFilterFigures {
  readonly filter: string;
  readonly firstPageMs: number;
  readonly aggregatesMs: number;
  /** First page + aggregates: what `hotline review report` and the dashboard ask for. */
  readonly reportMs: number;
  readonly pageAtOffset10000Ms: number;
}

export interface ReviewReportPoint {
  readonly envelopes: number;
  readonly notices: number;
  readonly databaseMB: number;
  readonly generateSec: number;
  /** The first aggregates call on a database loads its notice columns (what a relay does once at start). */
  readonly firstAggregatesMs: number;
  readonly filters: readonly ReviewFilterFigures[];
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Builds a synthetic relay database per size (in a temp dir, removed after) and times the reviewer queries on it. */
export function benchReviewReport(sizes: readonly number[], onPoint: (p: ReviewReportPoint) => void = () => undefined): ReviewReportPoint[] {
  const root = mkdtempSync(join(tmpdir(), 'hotline-review-bench-'));
  const now = Date.UTC(2026, 11, 1);
  const filters: [string, TimingFilter][] = [
    ['all notices', {}],
    ['real only', { drill: 'real' }],
    ['one channel, FLASH', { channel: 'CN-US', level: 'FLASH' }],
    ['last 7 days', { since: now - 7 * DAY }],
  ];
  const points: ReviewReportPoint[] = [];
  try {
    for (const size of sizes) {
      const path = join(root, `relay-${size}.db`);
      const gen = time(() => generate(path, size));
      const writable = new Database(path);
      prepareTimingIndexes(writable);
      writable.close();
      const db = new Database(path, { readonly: true });
      try {
        const first = time(() => timingAggregates(db, {}, now, 'day'));
        const figures: ReviewFilterFigures[] = [];
        for (const [label, filter] of filters) {
          const runs = { page: [] as number[], aggregates: [] as number[], report: [] as number[] };
          for (let i = 0; i < 5; i++) {
            const page = time(() => timingRecords(db, filter, now, { limit: 50 }));
            const aggregates = time(() => timingAggregates(db, filter, now, 'day'));
            runs.page.push(page.ms);
            runs.aggregates.push(aggregates.ms);
            runs.report.push(page.ms + aggregates.ms);
          }
          const deep = time(() => timingRecords(db, filter, now, { limit: 50, offset: 10_000 }));
          figures.push({
            filter: label,
            firstPageMs: round1(median(runs.page)),
            aggregatesMs: round1(median(runs.aggregates)),
            reportMs: round1(median(runs.report)),
            pageAtOffset10000Ms: round1(deep.ms),
          });
        }
        const point: ReviewReportPoint = {
          envelopes: gen.value.envelopes,
          notices: gen.value.notices,
          databaseMB: Math.round(statSync(path).size / 1e6),
          generateSec: round1(gen.ms / 1000),
          firstAggregatesMs: round1(first.ms),
          filters: figures,
        };
        points.push(point);
        onPoint(point);
      } finally {
        db.close();
        // KEEP=1 leaves the databases in the temp dir for poking at query plans.
        if (!process.env.KEEP) rmSync(path, { force: true });
      }
    }
  } finally {
    if (!process.env.KEEP) rmSync(root, { recursive: true, force: true });
  }
  return points;
}

/** One line per filter, as the standalone script and `npm run bench` print them. */
export function describeReviewPoint(p: ReviewReportPoint): string[] {
  return [
    `${p.envelopes.toLocaleString('en')} envelopes (${p.notices.toLocaleString('en')} notices), ${p.databaseMB} MB, generated in ${p.generateSec} s; first aggregates call (loads the notice columns) ${p.firstAggregatesMs} ms`,
    ...p.filters.map(
      (f) =>
        `  ${f.filter.padEnd(20)} first page ${f.firstPageMs.toFixed(1).padStart(7)} ms   aggregates ${f.aggregatesMs.toFixed(1).padStart(7)} ms   report ${f.reportMs.toFixed(1).padStart(7)} ms   (page at offset 10000: ${f.pageAtOffset10000Ms.toFixed(1)} ms)`,
    ),
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
  benchReviewReport(sizes.length ? sizes : [10_000, 100_000, 1_000_000], (p) => console.log(`\n${describeReviewPoint(p).join('\n')}`));
}
