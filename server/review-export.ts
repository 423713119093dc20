// The reviewer's verifiable export: envelopes without bodies (header, recipients, body hash, signature, relay receipt), roster, the whole audit chain, checkpoints and timing records.
import type Database from 'better-sqlite3';
import {
  envelopeSchema,
  fromB64u,
  hash,
  relayReceiptSchema,
  REVIEW_BUNDLE_FORMAT,
  timingFilterSchema,
  toB64u,
  type AuditCheckpoint,
  type AuditEvent,
  type BundleEnvelope,
  type ReviewBundle,
  type RosterEntry,
  type Role,
  type TimingFilter,
  type TimingRecord,
} from '../shared/index.ts';
import type { ManifestSigner } from './audit-log.ts';
import { matchingNoticeIds, timingRecordsFor } from './timing-records.ts';

const CHUNK = 500;

interface EnvelopeRow {
  rowid: number;
  envelope_json: string;
  receipt_json: string;
}

/** An envelope as a reviewer may see it: the body is replaced by its hash, which is all the signature needs. */
function withoutBody(row: EnvelopeRow): BundleEnvelope {
  const envelope = envelopeSchema.parse(JSON.parse(row.envelope_json));
  return {
    header: envelope.header,
    recipients: envelope.recipients,
    bodyHash: toB64u(hash(fromB64u(envelope.body))),
    sig: envelope.sig,
    receipt: relayReceiptSchema.parse(JSON.parse(row.receipt_json)),
  };
}

/**
 * Names in timing records as the states' signed rosters give them (in the version each envelope names), not as the
 * operator enrolled them: the verifier takes names from the rosters and refuses any other.
 */
function withSignedNames(records: readonly TimingRecord[], envelopes: readonly BundleEnvelope[], rosters: readonly Record<string, unknown>[]): TimingRecord[] {
  const names = new Map<string, string>();
  for (const doc of rosters) {
    const body = (doc as { roster?: { state?: string; version?: number; members?: { kid: string; name: string }[] } }).roster;
    for (const m of body?.members ?? []) names.set(`${String(body?.state)} ${String(body?.version)} ${m.kid}`, m.name);
  }
  const byId = new Map(envelopes.map((e) => [e.header.id, e.header]));
  const nameIn = (id: string | null, kid: string, fallback: string | null) => {
    const h = id === null ? undefined : byId.get(id);
    const ref = h?.trust?.rosters[h.fromState];
    return (h && ref && names.get(`${h.fromState} ${ref.version} ${kid}`)) ?? fallback;
  };
  return records.map((r) => ({
    ...r,
    fromName: nameIn(r.id, r.from, r.fromName),
    ackedBy: r.ackedBy === null ? null : { kid: r.ackedBy.kid, name: nameIn(r.ackId, r.ackedBy.kid, r.ackedBy.name) },
  }));
}

/**
 * Builds the bundle inside one read transaction (a consistent snapshot). Envelopes: every envelope of the channel (or
 * all channels) accepted in [since, until), plus everything that answers a notice of the records (receipts, acks,
 * raises), whenever it came. Audit: every event from seq 1 and every checkpoint.
 */
export function buildReviewBundle(db: Database.Database, filter: TimingFilter, now: number, signer: ManifestSigner): ReviewBundle {
  const f = timingFilterSchema.parse(filter);
  return db.transaction((): ReviewBundle => {
    const ids = matchingNoticeIds(db, f);
    const records: TimingRecord[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) records.push(...timingRecordsFor(db, ids.slice(i, i + CHUNK), now));
    const threadIds = JSON.stringify(records.flatMap((r) => [r.id, ...r.raises.map((x) => x.id)]));
    const rows = db
      .prepare(
        `SELECT rowid, envelope_json, receipt_json FROM envelopes e
         WHERE (@channel IS NULL OR e.channel = @channel) AND (@since IS NULL OR e.accepted_at >= @since) AND (@until IS NULL OR e.accepted_at < @until)
         UNION
         SELECT e.rowid, e.envelope_json, e.receipt_json FROM json_each(@threadIds) j JOIN envelopes e ON e.id = j.value
         UNION
         SELECT e.rowid, e.envelope_json, e.receipt_json FROM json_each(@threadIds) j JOIN envelope_refs r ON r.ref_id = j.value JOIN envelopes e ON e.rowid = r.env_rowid
         ORDER BY 1`,
      )
      .all({ channel: f.channel ?? null, since: f.since ?? null, until: f.until ?? null, threadIds }) as EnvelopeRow[];
    const events = (
      db.prepare('SELECT seq, at, type, data_json, prev, hash FROM audit_events ORDER BY seq').all() as {
        seq: number;
        at: number;
        type: string;
        data_json: string;
        prev: string;
        hash: string;
      }[]
    ).map((e): AuditEvent => ({ seq: e.seq, at: e.at, type: e.type, data: JSON.parse(e.data_json) as Record<string, unknown>, prev: e.prev, hash: e.hash }));
    const checkpoints = db.prepare('SELECT seq, head, at, relay, sig FROM audit_checkpoints ORDER BY seq').all() as AuditCheckpoint[];
    const roster = (
      db.prepare('SELECT kid, state, role, name, revoked_at FROM members ORDER BY state, enrolled_at, kid').all() as {
        kid: string;
        state: string;
        role: Role;
        name: string;
        revoked_at: number | null;
      }[]
    )
      // A channel's export names the members of its two states only.
      .filter((m) => f.channel === undefined || f.channel.split('-').includes(m.state))
      .map((m): RosterEntry => ({ kid: m.kid, state: m.state, role: m.role, name: m.name, revokedAt: m.revoked_at }));
    // The signed documents in scope: the charters of the channels exported and the rosters of their states.
    const docs = db.prepare('SELECT kind, subject, doc_json FROM trust_docs ORDER BY kind, subject, version').all() as { kind: string; subject: string; doc_json: string }[];
    const charters = docs.filter((d) => d.kind === 'charter' && (f.channel === undefined || d.subject === f.channel));
    const states = new Set(charters.flatMap((d) => d.subject.split('-')));
    const trust = {
      charters: charters.map((d) => JSON.parse(d.doc_json) as Record<string, unknown>),
      rosters: docs.filter((d) => d.kind === 'roster' && states.has(d.subject)).map((d) => JSON.parse(d.doc_json) as Record<string, unknown>),
    };
    const envelopes = rows.map(withoutBody).sort((a, b) => a.receipt.auditSeq - b.receipt.auditSeq);
    const named = withSignedNames(records, envelopes, trust.rosters);
    const last = events[events.length - 1];
    const manifest = last
      ? signer.sign({
          generatedAt: now,
          filter: { ...f },
          head: { seq: last.seq, hash: last.hash },
          checkpoint: checkpoints[checkpoints.length - 1]?.seq ?? null,
          envelopes: envelopes.map((e) => e.receipt.hash),
          records: named.map((r) => r.id),
        })
      : undefined;
    return {
      format: REVIEW_BUNDLE_FORMAT,
      relay: signer.kid,
      generatedAt: now,
      filter: { ...f },
      roster,
      trust,
      envelopes,
      audit: { events, checkpoints },
      records: named,
      ...(manifest ? { manifest } : {}),
    };
  })();
}
