// The relay's durable store: every SQL statement lives here, over one better-sqlite3 database (WAL, synchronous=FULL).
import Database from 'better-sqlite3';
import {
  defaultAckDeadlines,
  defaultEscalationPolicy,
  nextAuditEvent,
  type AuditCheckpoint,
  type AuditEvent,
  type ChannelInfo,
  type DeadlineTable,
  type DirectoryEntry,
  type DrillMark,
  type Envelope,
  type EscalationAction,
  type EscalationPolicy,
  type Level,
  type RelayReceipt,
  type Role,
  type SignedPrekey,
} from '../shared/index.ts';

const SCHEMA_VERSION = 5;

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS states (code TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members (
  kid TEXT PRIMARY KEY, state TEXT NOT NULL REFERENCES states(code), role TEXT NOT NULL, name TEXT NOT NULL,
  enrolled_at INTEGER NOT NULL, revoked_at INTEGER, revoke_reason TEXT
);
CREATE INDEX IF NOT EXISTS members_state ON members(state);
CREATE TABLE IF NOT EXISTS prekeys (
  kid TEXT NOT NULL REFERENCES members(kid), prekey_id TEXT NOT NULL, prekey_json TEXT NOT NULL,
  not_after INTEGER NOT NULL, published_at INTEGER NOT NULL, PRIMARY KEY (kid, prekey_id)
);
CREATE TABLE IF NOT EXISTS invites (
  code_hash TEXT PRIMARY KEY, state TEXT NOT NULL, role TEXT NOT NULL, name TEXT,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER, used_by TEXT
);
CREATE TABLE IF NOT EXISTS channels (
  id TEXT PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, deadlines_json TEXT NOT NULL, opened_at INTEGER NOT NULL,
  escalation_json TEXT
);
CREATE TABLE IF NOT EXISTS envelopes (
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, channel TEXT NOT NULL, kind TEXT NOT NULL,
  from_kid TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL, level TEXT, drill_id TEXT, inject INTEGER,
  seq INTEGER NOT NULL, created_at INTEGER NOT NULL, accepted_at INTEGER NOT NULL, ack_deadline INTEGER,
  refs_json TEXT NOT NULL, audit_seq INTEGER NOT NULL, envelope_json TEXT NOT NULL, receipt_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS envelopes_channel_accepted ON envelopes(channel, accepted_at);
CREATE INDEX IF NOT EXISTS envelopes_kind_accepted ON envelopes(kind, accepted_at);
CREATE INDEX IF NOT EXISTS envelopes_drill ON envelopes(drill_id) WHERE drill_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS envelope_refs (ref_id TEXT NOT NULL, env_rowid INTEGER NOT NULL, PRIMARY KEY (ref_id, env_rowid));
CREATE TABLE IF NOT EXISTS sender_seq (kid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chain_links (
  kid TEXT NOT NULL, channel TEXT NOT NULL, chan_seq INTEGER NOT NULL, env_rowid INTEGER NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (kid, channel, chan_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
  kid TEXT NOT NULL, env_rowid INTEGER NOT NULL, queued_at INTEGER NOT NULL, delivered_at INTEGER,
  sender TEXT NOT NULL DEFAULT '', urgent INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (kid, env_rowid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(kid, env_rowid) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS audit_events (
  seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, type TEXT NOT NULL, data_json TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ack_deadlines (
  env_rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL, channel TEXT NOT NULL, level TEXT NOT NULL,
  from_kid TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL, drill_json TEXT NOT NULL, recipients_json TEXT NOT NULL,
  accepted_at INTEGER NOT NULL, deadline INTEGER NOT NULL, overdue_at INTEGER,
  acked_at INTEGER, ack_id TEXT, ack_kid TEXT, late_by_ms INTEGER
);
CREATE INDEX IF NOT EXISTS ack_deadlines_thread ON ack_deadlines(thread_id, env_rowid);
CREATE TABLE IF NOT EXISTS escalation_steps (
  env_rowid INTEGER NOT NULL, step INTEGER NOT NULL, action TEXT NOT NULL, thread_id TEXT NOT NULL, due_at INTEGER NOT NULL,
  fired_at INTEGER, cancelled_at INTEGER, audit_seq INTEGER, PRIMARY KEY (env_rowid, step)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS escalation_steps_open ON escalation_steps(due_at, env_rowid, step) WHERE fired_at IS NULL AND cancelled_at IS NULL;
CREATE INDEX IF NOT EXISTS escalation_steps_thread_open ON escalation_steps(thread_id) WHERE fired_at IS NULL AND cancelled_at IS NULL;
CREATE TABLE IF NOT EXISTS drills (
  drill_id TEXT PRIMARY KEY, name TEXT NOT NULL, director_kid TEXT NOT NULL, channel TEXT NOT NULL,
  deadlines_json TEXT NOT NULL, time_scale REAL NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER
);
CREATE TABLE IF NOT EXISTS checks (
  check_id TEXT PRIMARY KEY, started_by TEXT NOT NULL, target_state TEXT, within_ms INTEGER NOT NULL,
  started_at INTEGER NOT NULL, deadline INTEGER NOT NULL, ended_at INTEGER
);
CREATE TABLE IF NOT EXISTS check_targets (
  check_id TEXT NOT NULL, kid TEXT NOT NULL, state TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL,
  received_at INTEGER, receipt_sig TEXT, acked_at INTEGER, ack_sig TEXT, PRIMARY KEY (check_id, kid)
);
CREATE TABLE IF NOT EXISTS event_outbox (
  seq INTEGER PRIMARY KEY, kid TEXT NOT NULL, audit_seq INTEGER NOT NULL, frame_json TEXT NOT NULL, created_at INTEGER NOT NULL, sent_at INTEGER
);
CREATE INDEX IF NOT EXISTS event_outbox_pending ON event_outbox(kid, seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS trust_docs (
  kind TEXT NOT NULL, subject TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL, doc_json TEXT NOT NULL,
  stored_at INTEGER NOT NULL, PRIMARY KEY (kind, subject, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq INTEGER PRIMARY KEY, head TEXT NOT NULL, at INTEGER NOT NULL, relay TEXT NOT NULL, sig TEXT NOT NULL
);
`;

/** The last link of a sender's chain on one channel. */
export interface ChainHead {
  readonly chanSeq: number;
  readonly hash: string;
}

export type TrustDocKind = 'roster' | 'charter';

export interface DrillRecord {
  readonly drillId: string;
  readonly name: string;
  readonly director: string;
  readonly channel: string;
  readonly deadlines: Partial<Record<Level, number>>;
  readonly timeScale: number;
  readonly startedAt: number;
  readonly endedAt: number | null;
}

export interface CheckRecord {
  readonly checkId: string;
  readonly startedBy: string;
  readonly targetState: string | null;
  readonly withinMs: number;
  readonly startedAt: number;
  readonly deadline: number;
  readonly endedAt: number | null;
}

export interface CheckTargetRecord {
  readonly kid: string;
  readonly state: string;
  readonly role: Role;
  readonly name: string;
  readonly receivedAt: number | null;
  readonly receiptSig: string | null;
  readonly ackedAt: number | null;
  readonly ackSig: string | null;
}

export interface MemberRecord {
  readonly kid: string;
  readonly state: string;
  readonly role: Role;
  readonly name: string;
  readonly enrolledAt: number;
  readonly revokedAt: number | null;
}

export interface InviteRecord {
  readonly state: string;
  readonly role: Role;
  readonly name: string | null;
  readonly expiresAt: number;
  readonly usedAt: number | null;
}

export interface StoredEnvelope {
  readonly rowid: number;
  readonly envelope: Envelope;
  readonly receipt: RelayReceipt;
}

export interface NewEnvelopeRecord {
  readonly envelope: Envelope;
  readonly envelopeJson: string;
  readonly receiptJson: string;
  readonly hash: string;
  readonly acceptedAt: number;
  readonly ackDeadline: number | null;
  readonly auditSeq: number;
  readonly deliverTo: readonly string[];
}

/** An envelope waiting for one recipient device, as the JSON text it is stored (and sent) as. */
export interface PendingDelivery {
  readonly rowid: number;
  readonly id: string;
  readonly envelopeJson: string;
  readonly receiptJson: string;
}

/** Names one escalation step: the notice or raise it belongs to, and its index in the channel's policy. */
export interface EscalationStepKey {
  readonly envRowid: number;
  readonly step: number;
}

/** An escalation step waiting to fire. */
export interface DueEscalationStep extends EscalationStepKey {
  readonly action: EscalationAction;
  readonly due: number;
}

/** The acknowledgement deadline of one notice or raise; a thread is a notice and its raises. */
export interface AckDeadlineRecord {
  readonly envRowid: number;
  readonly id: string;
  /** The thread's original notice id (equal to `id` for a notice). */
  readonly threadId: string;
  readonly channel: string;
  readonly level: Level;
  readonly fromKid: string;
  readonly fromState: string;
  readonly toState: string;
  readonly drill: DrillMark | null;
  /** Recipient device keys listed in the envelope. */
  readonly recipients: readonly string[];
  readonly acceptedAt: number;
  readonly deadline: number;
  readonly overdueAt: number | null;
  readonly ackedAt: number | null;
  readonly ackId: string | null;
  readonly ackKid: string | null;
  readonly lateByMs: number | null;
}

export type NewAckDeadline = Omit<AckDeadlineRecord, 'overdueAt' | 'ackedAt' | 'ackId' | 'ackKid' | 'lateByMs'>;

/** One escalation step as recorded, for review and tests. */
export interface EscalationStepRecord extends DueEscalationStep {
  readonly firedAt: number | null;
  readonly cancelledAt: number | null;
  readonly auditSeq: number | null;
}

/** A relay event waiting for (or already written to) one device. */
export interface OutboxEntry {
  readonly seq: number;
  readonly kid: string;
  readonly frameJson: string;
}

interface AckDeadlineRow {
  env_rowid: number;
  id: string;
  thread_id: string;
  channel: string;
  level: Level;
  from_kid: string;
  from_state: string;
  to_state: string;
  drill_json: string;
  recipients_json: string;
  accepted_at: number;
  deadline: number;
  overdue_at: number | null;
  acked_at: number | null;
  ack_id: string | null;
  ack_kid: string | null;
  late_by_ms: number | null;
}

function toAckDeadline(row: AckDeadlineRow): AckDeadlineRecord {
  return {
    envRowid: row.env_rowid,
    id: row.id,
    threadId: row.thread_id,
    channel: row.channel,
    level: row.level,
    fromKid: row.from_kid,
    fromState: row.from_state,
    toState: row.to_state,
    drill: JSON.parse(row.drill_json) as DrillMark | null,
    recipients: JSON.parse(row.recipients_json) as string[],
    acceptedAt: row.accepted_at,
    deadline: row.deadline,
    overdueAt: row.overdue_at,
    ackedAt: row.acked_at,
    ackId: row.ack_id,
    ackKid: row.ack_kid,
    lateByMs: row.late_by_ms,
  };
}

interface StepRow {
  env_rowid: number;
  step: number;
  action: EscalationAction;
  due_at: number;
}

interface MemberRow {
  kid: string;
  state: string;
  role: Role;
  name: string;
  enrolled_at: number;
  revoked_at: number | null;
}

function toMember(row: MemberRow): MemberRecord {
  return { kid: row.kid, state: row.state, role: row.role, name: row.name, enrolledAt: row.enrolled_at, revokedAt: row.revoked_at };
}

/** One recipient's undelivered envelopes, in the two queue classes (see pendingFrom). */
interface PendingTally {
  readonly total: { bulk: number; urgent: number };
  readonly bySender: Map<string, { bulk: number; urgent: number }>;
}

function addToTally(tally: PendingTally, sender: string, urgent: boolean, by: number): void {
  let mine = tally.bySender.get(sender);
  if (!mine) {
    mine = { bulk: 0, urgent: 0 };
    tally.bySender.set(sender, mine);
  }
  if (urgent) {
    tally.total.urgent += by;
    mine.urgent += by;
  } else {
    tally.total.bulk += by;
    mine.bulk += by;
  }
  // A sender with nothing waiting takes no memory.
  if (mine.bulk === 0 && mine.urgent === 0) tally.bySender.delete(sender);
}

/** FLASH and IMMEDIATE have a queue of their own at each recipient, which other levels never fill. */
export function isUrgentLevel(level: Level | null): boolean {
  return level === 'FLASH' || level === 'IMMEDIATE';
}

/** Opens (creating when new) the relay database at `path`; `:memory:` works for unit tests. */
export class RelayStore {
  readonly db: Database.Database;
  private head: AuditEvent | null = null;
  /**
   * Undelivered envelopes per recipient, by queue class and by sender, cached once counted: counting is O(pending) and
   * runs for every recipient of every envelope accepted, which an offline recipient with thousands pending turns into
   * most of the relay's work.
   */
  private readonly pendingByKid = new Map<string, PendingTally>();
  /**
   * Members and channels read on every accepted envelope, cached as read: only known ones (an unknown key cannot
   * grow the cache), dropped when this store changes them and all at once when a transaction rolls back.
   */
  private readonly memberCache = new Map<string, MemberRecord>();
  private readonly channelCache = new Map<string, ChannelInfo>();
  private readonly policyCache = new Map<string, EscalationPolicy>();
  /** Each sender's last accepted seq (replay protection), cached like the pending counts. */
  private readonly lastSeqByKid = new Map<string, number>();
  /** Each sender's chain head per channel ("kid channel" → head; null: no v3 envelope yet). */
  private readonly chainHeads = new Map<string, ChainHead | null>();
  private pendingTotal: number | null = null;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(schema);
    this.migrate();
    // Fair queues count a recipient's pending rows by sender and class from this index alone (after the migration that adds its columns).
    this.db.exec('CREATE INDEX IF NOT EXISTS deliveries_pending_by_sender ON deliveries(kid, sender, urgent, delivered_at) WHERE delivered_at IS NULL');
    this.head = this.loadHead();
  }

  /** Brings an older database up to SCHEMA_VERSION; new tables were already created by the schema above. */
  private migrate(): void {
    const version = this.getMeta('schema_version');
    if (version === null) return this.setMeta('schema_version', String(SCHEMA_VERSION));
    if (Number(version) === SCHEMA_VERSION) return;
    if (![1, 2, 3, 4].includes(Number(version))) throw new Error(`relay database schema ${version} is not supported (expected ${SCHEMA_VERSION})`);
    this.transaction(() => {
      // Version 1 channels predate escalation policies: NULL reads as the default policy.
      if (Number(version) === 1) this.db.exec('ALTER TABLE channels ADD COLUMN escalation_json TEXT');
      // Version 3 adds trust_docs (created above); a version 2 channel has no charter and carries no traffic until one is installed.
      // Version 4 adds chain_links (created above): senders' per-channel chains start with their first v3 envelope.
      // Version 5 keeps each delivery's sender and queue class (fair queues); filled in for those still pending.
      const columns = (this.db.prepare('SELECT name FROM pragma_table_info(?)').all('deliveries') as { name: string }[]).map((c) => c.name);
      if (!columns.includes('sender')) {
        this.db.exec(`ALTER TABLE deliveries ADD COLUMN sender TEXT NOT NULL DEFAULT '';
          ALTER TABLE deliveries ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
          UPDATE deliveries SET sender = e.from_kid, urgent = (e.level IN ('FLASH', 'IMMEDIATE'))
            FROM envelopes e WHERE e.rowid = deliveries.env_rowid AND deliveries.delivered_at IS NULL;`);
      }
      this.setMeta('schema_version', String(SCHEMA_VERSION));
    });
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared once per SQL text: preparing is a measurable share of a small query. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one transaction (one fsync at commit), or a savepoint when nested. */
  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (error) {
      // Rolled back: counts and records cached from inside it may be wrong now.
      this.pendingByKid.clear();
      this.memberCache.clear();
      this.channelCache.clear();
      this.policyCache.clear();
      this.lastSeqByKid.clear();
      this.chainHeads.clear();
      this.latestTrustDoc.clear();
      this.pendingTotal = null;
      throw error;
    }
  }

  getMeta(key: string): string | null {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  // ---- states, members, invites ----

  ensureState(code: string, now: number): void {
    this.stmt('INSERT OR IGNORE INTO states (code, created_at) VALUES (?, ?)').run(code, now);
  }

  stateExists(code: string): boolean {
    return this.stmt('SELECT 1 FROM states WHERE code = ?').get(code) !== undefined;
  }

  addInvite(codeHash: string, state: string, role: Role, name: string | null, now: number, expiresAt: number): void {
    this.ensureState(state, now);
    this
      .stmt('INSERT INTO invites (code_hash, state, role, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(codeHash, state, role, name, now, expiresAt);
  }

  getInvite(codeHash: string): InviteRecord | null {
    const row = this.stmt('SELECT state, role, name, expires_at, used_at FROM invites WHERE code_hash = ?').get(codeHash) as
      | { state: string; role: Role; name: string | null; expires_at: number; used_at: number | null }
      | undefined;
    return row ? { state: row.state, role: row.role, name: row.name, expiresAt: row.expires_at, usedAt: row.used_at } : null;
  }

  /** Marks the invite used; false when another join got there first. */
  useInvite(codeHash: string, kid: string, now: number): boolean {
    return this.stmt('UPDATE invites SET used_at = ?, used_by = ? WHERE code_hash = ? AND used_at IS NULL').run(now, kid, codeHash).changes === 1;
  }

  addMember(member: Omit<MemberRecord, 'revokedAt'>): void {
    this.memberCache.delete(member.kid);
    this
      .stmt('INSERT INTO members (kid, state, role, name, enrolled_at) VALUES (?, ?, ?, ?, ?)')
      .run(member.kid, member.state, member.role, member.name, member.enrolledAt);
  }

  getMember(kid: string): MemberRecord | null {
    const cached = this.memberCache.get(kid);
    if (cached) return cached;
    const row = this.stmt('SELECT * FROM members WHERE kid = ?').get(kid) as MemberRow | undefined;
    if (!row) return null;
    const member = Object.freeze(toMember(row));
    this.memberCache.set(kid, member);
    return member;
  }

  revokeMember(kid: string, now: number, reason: string | null): boolean {
    this.memberCache.delete(kid);
    return this.stmt('UPDATE members SET revoked_at = ?, revoke_reason = ? WHERE kid = ? AND revoked_at IS NULL').run(now, reason, kid).changes === 1;
  }

  membersOf(state: string): MemberRecord[] {
    return (this.stmt('SELECT * FROM members WHERE state = ? ORDER BY enrolled_at, kid').all(state) as MemberRow[]).map(toMember);
  }

  listStates(): string[] {
    return (this.stmt('SELECT code FROM states ORDER BY code').all() as { code: string }[]).map((r) => r.code);
  }

  // ---- prekeys ----

  putPrekey(prekey: SignedPrekey, now: number): void {
    this
      .stmt('INSERT OR IGNORE INTO prekeys (kid, prekey_id, prekey_json, not_after, published_at) VALUES (?, ?, ?, ?, ?)')
      .run(prekey.owner, prekey.prekeyId, JSON.stringify(prekey), prekey.notAfter, now);
  }

  /** The most recently published prekey still valid at `now`, or null. */
  currentPrekey(kid: string, now: number): SignedPrekey | null {
    const row = this
      .stmt('SELECT prekey_json FROM prekeys WHERE kid = ? AND not_after > ? ORDER BY published_at DESC, not_after DESC LIMIT 1')
      .get(kid, now) as { prekey_json: string } | undefined;
    return row ? (JSON.parse(row.prekey_json) as SignedPrekey) : null;
  }

  directory(states: readonly string[], now: number): DirectoryEntry[] {
    const out: DirectoryEntry[] = [];
    for (const state of states) {
      for (const m of this.membersOf(state)) {
        out.push({ kid: m.kid, state: m.state, role: m.role, name: m.name, revoked: m.revokedAt !== null, prekey: this.currentPrekey(m.kid, now) });
      }
    }
    return out;
  }

  /** Active drill directors, as directory entries. */
  directors(now: number): DirectoryEntry[] {
    const rows = this.stmt("SELECT * FROM members WHERE role = 'director' AND revoked_at IS NULL ORDER BY enrolled_at").all() as MemberRow[];
    return rows.map((r) => ({ kid: r.kid, state: r.state, role: r.role, name: r.name, revoked: false, prekey: this.currentPrekey(r.kid, now) }));
  }

  // ---- trust documents (rosters by state, charters by channel; every version kept) ----

  private readonly latestTrustDoc = new Map<string, { version: number; hash: string; doc: unknown } | null>();

  /** Stores one version of a roster or charter; the caller has verified it and that it extends the last. */
  putTrustDoc(kind: TrustDocKind, subject: string, version: number, hash: string, doc: unknown, now: number): void {
    this.latestTrustDoc.delete(`${kind}:${subject}`);
    this.stmt('INSERT INTO trust_docs (kind, subject, version, hash, doc_json, stored_at) VALUES (?, ?, ?, ?, ?, ?)').run(kind, subject, version, hash, JSON.stringify(doc), now);
  }

  /** The newest version of a roster (subject: state) or charter (subject: channel), or null. Cached. */
  latestTrustDocOf(kind: TrustDocKind, subject: string): { version: number; hash: string; doc: unknown } | null {
    const key = `${kind}:${subject}`;
    const cached = this.latestTrustDoc.get(key);
    if (cached !== undefined) return cached;
    const row = this.stmt('SELECT version, hash, doc_json FROM trust_docs WHERE kind = ? AND subject = ? ORDER BY version DESC LIMIT 1').get(kind, subject) as
      | { version: number; hash: string; doc_json: string }
      | undefined;
    const latest = row ? { version: row.version, hash: row.hash, doc: JSON.parse(row.doc_json) as unknown } : null;
    // Only known subjects are cached, so that unknown names from outside cannot grow the map.
    if (latest) this.latestTrustDoc.set(key, latest);
    return latest;
  }

  /** Every version of one roster or charter, oldest first. */
  trustDocChain(kind: TrustDocKind, subject: string): unknown[] {
    const rows = this.stmt('SELECT doc_json FROM trust_docs WHERE kind = ? AND subject = ? ORDER BY version').all(kind, subject) as { doc_json: string }[];
    return rows.map((r) => JSON.parse(r.doc_json) as unknown);
  }

  /** Subjects (states or channels) that have at least one document of `kind`. */
  trustDocSubjects(kind: TrustDocKind): string[] {
    return (this.stmt('SELECT DISTINCT subject FROM trust_docs WHERE kind = ? ORDER BY subject').all(kind) as { subject: string }[]).map((r) => r.subject);
  }

  /** Sets a channel's deadlines and escalation policy from its charter. */
  setChannelTerms(id: string, deadlines: DeadlineTable, escalation: EscalationPolicy): void {
    this.channelCache.delete(id);
    this.policyCache.delete(id);
    this.stmt('UPDATE channels SET deadlines_json = ?, escalation_json = ? WHERE id = ?').run(JSON.stringify(deadlines), JSON.stringify(escalation), id);
  }

  // ---- channels ----

  openChannel(id: string, a: string, b: string, deadlines: DeadlineTable, escalation: EscalationPolicy, now: number): void {
    this.channelCache.delete(id);
    this.policyCache.delete(id);
    this.ensureState(a, now);
    this.ensureState(b, now);
    this
      .stmt('INSERT INTO channels (id, a, b, deadlines_json, opened_at, escalation_json) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, a, b, JSON.stringify(deadlines), now, JSON.stringify(escalation));
  }

  /** The channel's escalation policy (the default for channels opened before policies existed); null for an unknown channel. */
  escalationPolicyOf(id: string): EscalationPolicy | null {
    const cached = this.policyCache.get(id);
    if (cached) return cached;
    const row = this.stmt('SELECT escalation_json FROM channels WHERE id = ?').get(id) as { escalation_json: string | null } | undefined;
    if (!row) return null;
    const policy = row.escalation_json === null ? defaultEscalationPolicy : (JSON.parse(row.escalation_json) as EscalationPolicy);
    this.policyCache.set(id, policy);
    return policy;
  }

  getChannel(id: string): ChannelInfo | null {
    const cached = this.channelCache.get(id);
    if (cached) return cached;
    const row = this.stmt('SELECT id, a, b, deadlines_json FROM channels WHERE id = ?').get(id) as
      | { id: string; a: string; b: string; deadlines_json: string }
      | undefined;
    if (!row) return null;
    // Frozen: one object is shared by every reader of the cache.
    const channel: ChannelInfo = Object.freeze({
      id: row.id,
      states: Object.freeze([row.a, row.b]) as [string, string],
      deadlines: Object.freeze({ ...defaultAckDeadlines, ...(JSON.parse(row.deadlines_json) as Partial<Record<Level, number>>) }),
    });
    this.channelCache.set(id, channel);
    return channel;
  }

  channelsOf(state: string): ChannelInfo[] {
    const rows = this.stmt('SELECT id FROM channels WHERE a = ? OR b = ? ORDER BY id').all(state, state) as { id: string }[];
    return rows.map((r) => this.getChannel(r.id)).filter((c): c is ChannelInfo => c !== null);
  }

  listChannels(): ChannelInfo[] {
    const rows = this.stmt('SELECT id FROM channels ORDER BY id').all() as { id: string }[];
    return rows.map((r) => this.getChannel(r.id)).filter((c): c is ChannelInfo => c !== null);
  }

  // ---- envelopes ----

  envelopeById(id: string): StoredEnvelope | null {
    const row = this.stmt('SELECT rowid, envelope_json, receipt_json FROM envelopes WHERE id = ?').get(id) as
      | { rowid: number; envelope_json: string; receipt_json: string }
      | undefined;
    return row ? { rowid: row.rowid, envelope: JSON.parse(row.envelope_json) as Envelope, receipt: JSON.parse(row.receipt_json) as RelayReceipt } : null;
  }

  envelopeHashById(id: string): { hash: string; receipt: RelayReceipt } | null {
    const row = this.stmt('SELECT hash, receipt_json FROM envelopes WHERE id = ?').get(id) as { hash: string; receipt_json: string } | undefined;
    return row ? { hash: row.hash, receipt: JSON.parse(row.receipt_json) as RelayReceipt } : null;
  }

  lastSeq(kid: string): number {
    let seq = this.lastSeqByKid.get(kid);
    if (seq === undefined) {
      const row = this.stmt('SELECT last_seq FROM sender_seq WHERE kid = ?').get(kid) as { last_seq: number } | undefined;
      seq = row?.last_seq ?? 0;
      this.lastSeqByKid.set(kid, seq);
    }
    return seq;
  }

  /** The last link of a sender's chain on a channel (null before its first v3 envelope there). Cached. */
  chainHead(kid: string, channel: string): ChainHead | null {
    const key = `${kid} ${channel}`;
    let head = this.chainHeads.get(key);
    if (head === undefined) {
      const row = this.stmt('SELECT chan_seq, hash FROM chain_links WHERE kid = ? AND channel = ? ORDER BY chan_seq DESC LIMIT 1').get(kid, channel) as
        | { chan_seq: number; hash: string }
        | undefined;
      head = row ? { chanSeq: row.chan_seq, hash: row.hash } : null;
      this.chainHeads.set(key, head);
    }
    return head;
  }

  /**
   * A sender's envelopes on a channel with chanSeq in [first, last], in order, as many as fit in `maxBytes` of
   * envelope JSON (at least one): the size is summed in SQL, so rows beyond it are never read into memory.
   */
  chainRange(kid: string, channel: string, first: number, last: number, maxBytes: number): { chanSeq: number; envelopeJson: string; receiptJson: string }[] {
    const rows = this
      .stmt(
        `SELECT chan_seq, envelope_json, receipt_json FROM (
           SELECT c.chan_seq, c.env_rowid, SUM(length(e.envelope_json)) OVER (ORDER BY c.chan_seq) AS upto
           FROM chain_links c JOIN envelopes e ON e.rowid = c.env_rowid
           WHERE c.kid = ? AND c.channel = ? AND c.chan_seq BETWEEN ? AND ?
         ) w JOIN envelopes x ON x.rowid = w.env_rowid
         WHERE w.upto <= ? OR w.chan_seq = (SELECT MIN(chan_seq) FROM chain_links WHERE kid = ? AND channel = ? AND chan_seq BETWEEN ? AND ?)
         ORDER BY chan_seq`,
      )
      .all(kid, channel, first, last, maxBytes, kid, channel, first, last) as { chan_seq: number; envelope_json: string; receipt_json: string }[];
    return rows.map((r) => ({ chanSeq: r.chan_seq, envelopeJson: r.envelope_json, receiptJson: r.receipt_json }));
  }

  /** Undelivered envelopes for `kid`, all senders and levels. */
  pendingCount(kid: string): number {
    const tally = this.pendingTally(kid);
    return tally.total.bulk + tally.total.urgent;
  }

  /**
   * Undelivered envelopes for `recipient` in one queue class (`urgent`: FLASH and IMMEDIATE; otherwise every other
   * envelope): from all senders together, and from `sender`. In memory once the recipient's queue was counted.
   */
  pendingFrom(recipient: string, sender: string, urgent: boolean): { readonly total: number; readonly fromSender: number } {
    const tally = this.pendingTally(recipient);
    const fromSender = tally.bySender.get(sender);
    return urgent ? { total: tally.total.urgent, fromSender: fromSender?.urgent ?? 0 } : { total: tally.total.bulk, fromSender: fromSender?.bulk ?? 0 };
  }

  /** One recipient's queue counted by sender and class: one pass over its rows of a covering index (O(pending)). */
  private pendingTally(kid: string): PendingTally {
    let tally = this.pendingByKid.get(kid);
    if (tally === undefined) {
      const rows = this
        .stmt('SELECT sender, urgent, COUNT(*) AS n FROM deliveries WHERE kid = ? AND delivered_at IS NULL GROUP BY sender, urgent')
        .all(kid) as { sender: string; urgent: number; n: number }[];
      tally = { total: { bulk: 0, urgent: 0 }, bySender: new Map() };
      for (const r of rows) addToTally(tally, r.sender, r.urgent === 1, r.n);
      this.pendingByKid.set(kid, tally);
    }
    return tally;
  }

  private adjustPending(kid: string, sender: string, urgent: boolean, by: number): void {
    const tally = this.pendingByKid.get(kid);
    if (tally !== undefined) addToTally(tally, sender, urgent, by);
    if (this.pendingTotal !== null) this.pendingTotal += by;
  }

  /** Undelivered deliveries in all: counted once (O(pending), 25 ms at 10^5), then kept up to date like the per-kid counts. */
  totalPending(): number {
    this.pendingTotal ??= (this.stmt('SELECT COUNT(*) AS n FROM deliveries WHERE delivered_at IS NULL').get() as { n: number }).n;
    return this.pendingTotal;
  }

  /** Inserts an accepted envelope, its sender seq, refs and delivery queue rows; returns its rowid. Call inside a transaction. */
  insertEnvelope(rec: NewEnvelopeRecord): number {
    const h = rec.envelope.header;
    const result = this
      .stmt(
        `INSERT INTO envelopes (id, hash, channel, kind, from_kid, from_state, to_state, level, drill_id, inject, seq, created_at,
           accepted_at, ack_deadline, refs_json, audit_seq, envelope_json, receipt_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        h.id, rec.hash, h.channel, h.kind, h.from, h.fromState, h.toState, h.level, h.drill?.drillId ?? null, h.drill?.inject ?? null,
        h.seq, h.createdAt, rec.acceptedAt, rec.ackDeadline, JSON.stringify(h.refs), rec.auditSeq, rec.envelopeJson, rec.receiptJson,
      );
    const rowid = Number(result.lastInsertRowid);
    this
      .stmt('INSERT INTO sender_seq (kid, last_seq) VALUES (?, ?) ON CONFLICT(kid) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)')
      .run(h.from, h.seq);
    // A resent v3 envelope may carry a lower seq than one accepted since: the highest is kept.
    this.lastSeqByKid.set(h.from, Math.max(this.lastSeq(h.from), h.seq));
    if (h.chanSeq !== undefined) {
      this.stmt('INSERT INTO chain_links (kid, channel, chan_seq, env_rowid, hash) VALUES (?, ?, ?, ?, ?)').run(h.from, h.channel, h.chanSeq, rowid, rec.hash);
      this.chainHeads.set(`${h.from} ${h.channel}`, { chanSeq: h.chanSeq, hash: rec.hash });
    }
    const ref = this.stmt('INSERT OR IGNORE INTO envelope_refs (ref_id, env_rowid) VALUES (?, ?)');
    for (const r of h.refs) ref.run(r, rowid);
    const queue = this.stmt('INSERT OR IGNORE INTO deliveries (kid, env_rowid, queued_at, sender, urgent) VALUES (?, ?, ?, ?, ?)');
    const urgent = isUrgentLevel(h.level);
    for (const kid of rec.deliverTo) if (queue.run(kid, rowid, rec.acceptedAt, h.from, urgent ? 1 : 0).changes === 1) this.adjustPending(kid, h.from, urgent, 1);
    return rowid;
  }

  /** Undelivered envelopes for `kid` after `afterRowid`, oldest first. */
  pendingFor(kid: string, afterRowid: number, limit: number): PendingDelivery[] {
    const rows = this
      .stmt(
        `SELECT e.rowid AS rowid, e.id AS id, e.envelope_json, e.receipt_json FROM deliveries d JOIN envelopes e ON e.rowid = d.env_rowid
         WHERE d.kid = ? AND d.delivered_at IS NULL AND d.env_rowid > ? ORDER BY d.env_rowid LIMIT ?`,
      )
      .all(kid, afterRowid, limit) as { rowid: number; id: string; envelope_json: string; receipt_json: string }[];
    return rows.map((r) => ({ rowid: r.rowid, id: r.id, envelopeJson: r.envelope_json, receiptJson: r.receipt_json }));
  }

  /** Marks one delivery confirmed; false when it was not pending (unknown or already confirmed). */
  confirmDelivery(kid: string, envRowid: number, now: number): boolean {
    const row = this
      .stmt('UPDATE deliveries SET delivered_at = ? WHERE kid = ? AND env_rowid = ? AND delivered_at IS NULL RETURNING sender, urgent')
      .get(now, kid, envRowid) as { sender: string; urgent: number } | undefined;
    if (!row) return false;
    this.adjustPending(kid, row.sender, row.urgent === 1, -1);
    return true;
  }

  rowidOf(id: string): number | null {
    const row = this.stmt('SELECT rowid FROM envelopes WHERE id = ?').get(id) as { rowid: number } | undefined;
    return row?.rowid ?? null;
  }

  // ---- acknowledgement deadlines and escalation ----

  /** Records a notice's or raise's deadline and its escalation steps. Call inside the transaction that inserts the envelope. */
  insertAckDeadline(rec: NewAckDeadline, steps: readonly DueEscalationStep[]): void {
    this
      .stmt(
        `INSERT INTO ack_deadlines (env_rowid, id, thread_id, channel, level, from_kid, from_state, to_state, drill_json, recipients_json,
           accepted_at, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        rec.envRowid, rec.id, rec.threadId, rec.channel, rec.level, rec.fromKid, rec.fromState, rec.toState, JSON.stringify(rec.drill),
        JSON.stringify(rec.recipients), rec.acceptedAt, rec.deadline,
      );
    const insert = this.stmt('INSERT INTO escalation_steps (env_rowid, step, action, thread_id, due_at) VALUES (?, ?, ?, ?, ?)');
    for (const s of steps) insert.run(s.envRowid, s.step, s.action, rec.threadId, s.due);
  }

  /** The deadline of the notice or raise with this envelope id, or null when it has none. */
  ackDeadlineById(id: string): AckDeadlineRecord | null {
    const row = this.stmt('SELECT * FROM ack_deadlines WHERE id = ?').get(id) as AckDeadlineRow | undefined;
    return row ? toAckDeadline(row) : null;
  }

  ackDeadlineByRowid(envRowid: number): AckDeadlineRecord | null {
    const row = this.stmt('SELECT * FROM ack_deadlines WHERE env_rowid = ?').get(envRowid) as AckDeadlineRow | undefined;
    return row ? toAckDeadline(row) : null;
  }

  /** Every deadline of a thread (the notice, then its raises), in acceptance order. */
  threadDeadlines(threadId: string): AckDeadlineRecord[] {
    return (this.stmt('SELECT * FROM ack_deadlines WHERE thread_id = ? ORDER BY env_rowid').all(threadId) as AckDeadlineRow[]).map(toAckDeadline);
  }

  /** Records the acknowledgement on every still-unacknowledged deadline of the thread; returns those it closed (none: an earlier ack won). */
  closeThreadDeadlines(threadId: string, ack: { readonly id: string; readonly kid: string; readonly ackedAt: number }): AckDeadlineRecord[] {
    const rows = this
      .stmt(
        `UPDATE ack_deadlines SET acked_at = ?, ack_id = ?, ack_kid = ?, late_by_ms = MAX(0, ? - deadline)
         WHERE thread_id = ? AND acked_at IS NULL RETURNING *`,
      )
      .all(ack.ackedAt, ack.id, ack.kid, ack.ackedAt, threadId) as AckDeadlineRow[];
    return rows.map(toAckDeadline).sort((a, b) => a.envRowid - b.envRowid);
  }

  /** Cancels every escalation step of the thread that has not fired yet; returns the steps cancelled. */
  cancelThreadSteps(threadId: string, now: number): EscalationStepKey[] {
    const rows = this
      .stmt(
        `UPDATE escalation_steps SET cancelled_at = ? WHERE thread_id = ? AND fired_at IS NULL AND cancelled_at IS NULL
         RETURNING env_rowid, step`,
      )
      .all(now, threadId) as { env_rowid: number; step: number }[];
    return rows.map((r) => ({ envRowid: r.env_rowid, step: r.step }));
  }

  /** Open (unfired, uncancelled) steps after `after` in (due, envRowid, step) order; from the start when `after` is null. */
  openEscalationSteps(after: DueEscalationStep | null, limit: number): DueEscalationStep[] {
    const rows = (
      after === null
        ? this
            .stmt(
              `SELECT env_rowid, step, action, due_at FROM escalation_steps WHERE fired_at IS NULL AND cancelled_at IS NULL
               ORDER BY due_at, env_rowid, step LIMIT ?`,
            )
            .all(limit)
        : this
            .stmt(
              `SELECT env_rowid, step, action, due_at FROM escalation_steps WHERE fired_at IS NULL AND cancelled_at IS NULL
               AND (due_at, env_rowid, step) > (?, ?, ?) ORDER BY due_at, env_rowid, step LIMIT ?`,
            )
            .all(after.due, after.envRowid, after.step, limit)
    ) as StepRow[];
    return rows.map((r) => ({ envRowid: r.env_rowid, step: r.step, action: r.action, due: r.due_at }));
  }

  isEscalationStepOpen(key: EscalationStepKey): boolean {
    return (
      this.stmt('SELECT 1 FROM escalation_steps WHERE env_rowid = ? AND step = ? AND fired_at IS NULL AND cancelled_at IS NULL').get(key.envRowid, key.step) !==
      undefined
    );
  }

  /** Marks an open step fired with its audit event; false when it had already fired or been cancelled. */
  markEscalationStepFired(key: EscalationStepKey, firedAt: number, auditSeq: number): boolean {
    return (
      this
        .stmt('UPDATE escalation_steps SET fired_at = ?, audit_seq = ? WHERE env_rowid = ? AND step = ? AND fired_at IS NULL AND cancelled_at IS NULL')
        .run(firedAt, auditSeq, key.envRowid, key.step).changes === 1
    );
  }

  /** First time a deadline is found overdue; later calls keep the first time. */
  markOverdue(envRowid: number, at: number): void {
    this.stmt('UPDATE ack_deadlines SET overdue_at = COALESCE(overdue_at, ?) WHERE env_rowid = ?').run(at, envRowid);
  }

  /** Every escalation step of one notice or raise, by envelope id, in policy order. */
  escalationStepsOf(id: string): EscalationStepRecord[] {
    const rows = this
      .stmt(
        `SELECT s.env_rowid, s.step, s.action, s.due_at, s.fired_at, s.cancelled_at, s.audit_seq FROM escalation_steps s
         JOIN ack_deadlines d ON d.env_rowid = s.env_rowid WHERE d.id = ? ORDER BY s.step`,
      )
      .all(id) as (StepRow & { fired_at: number | null; cancelled_at: number | null; audit_seq: number | null })[];
    return rows.map((r) => ({
      envRowid: r.env_rowid,
      step: r.step,
      action: r.action,
      due: r.due_at,
      firedAt: r.fired_at,
      cancelledAt: r.cancelled_at,
      auditSeq: r.audit_seq,
    }));
  }

  // ---- event outbox (relay events per device, kept until written to an open socket) ----

  addOutboxEvent(kid: string, auditSeq: number, frameJson: string, now: number): number {
    const result = this.stmt('INSERT INTO event_outbox (kid, audit_seq, frame_json, created_at) VALUES (?, ?, ?, ?)').run(kid, auditSeq, frameJson, now);
    return Number(result.lastInsertRowid);
  }

  /** Events not yet written to any socket of `kid`, after `afterSeq`, oldest first. */
  pendingOutbox(kid: string, afterSeq: number, limit: number): OutboxEntry[] {
    const rows = this
      .stmt('SELECT seq, kid, frame_json FROM event_outbox WHERE kid = ? AND sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?')
      .all(kid, afterSeq, limit) as { seq: number; kid: string; frame_json: string }[];
    return rows.map((r) => ({ seq: r.seq, kid: r.kid, frameJson: r.frame_json }));
  }

  markOutboxSent(seqs: readonly number[], now: number): void {
    const mark = this.stmt('UPDATE event_outbox SET sent_at = ? WHERE seq = ? AND sent_at IS NULL');
    for (const seq of seqs) mark.run(now, seq);
  }

  // ---- drills ----

  addDrill(d: Omit<DrillRecord, 'endedAt'>): void {
    this.stmt('INSERT INTO drills (drill_id, name, director_kid, channel, deadlines_json, time_scale, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      d.drillId, d.name, d.director, d.channel, JSON.stringify(d.deadlines), d.timeScale, d.startedAt,
    );
  }

  getDrill(drillId: string): DrillRecord | null {
    const row = this.stmt('SELECT * FROM drills WHERE drill_id = ?').get(drillId) as
      | { drill_id: string; name: string; director_kid: string; channel: string; deadlines_json: string; time_scale: number; started_at: number; ended_at: number | null }
      | undefined;
    if (!row) return null;
    return {
      drillId: row.drill_id,
      name: row.name,
      director: row.director_kid,
      channel: row.channel,
      deadlines: JSON.parse(row.deadlines_json) as Partial<Record<Level, number>>,
      timeScale: row.time_scale,
      startedAt: row.started_at,
      endedAt: row.ended_at,
    };
  }

  /** A drill's envelopes as metadata with relay times (no bodies), in acceptance order. */
  drillEnvelopes(drillId: string): Record<string, unknown>[] {
    const rows = this.stmt(
      `SELECT id, kind, from_kid AS "from", from_state AS fromState, to_state AS toState, level, inject, created_at AS createdAt,
              accepted_at AS acceptedAt, refs_json FROM envelopes WHERE drill_id = ? ORDER BY rowid`,
    ).all(drillId) as (Record<string, unknown> & { refs_json: string })[];
    return rows.map(({ refs_json, ...r }) => ({ ...r, refs: JSON.parse(refs_json) as string[] }));
  }

  endDrill(drillId: string, now: number): boolean {
    return this.stmt('UPDATE drills SET ended_at = ? WHERE drill_id = ? AND ended_at IS NULL').run(now, drillId).changes === 1;
  }

  // ---- communication checks ----

  addCheck(c: Omit<CheckRecord, 'endedAt'>, targets: readonly Pick<CheckTargetRecord, 'kid' | 'state' | 'role' | 'name'>[]): void {
    this.stmt('INSERT INTO checks (check_id, started_by, target_state, within_ms, started_at, deadline) VALUES (?, ?, ?, ?, ?, ?)').run(
      c.checkId, c.startedBy, c.targetState, c.withinMs, c.startedAt, c.deadline,
    );
    const add = this.stmt('INSERT INTO check_targets (check_id, kid, state, role, name) VALUES (?, ?, ?, ?, ?)');
    for (const t of targets) add.run(c.checkId, t.kid, t.state, t.role, t.name);
  }

  getCheck(checkId: string): CheckRecord | null {
    const row = this.stmt('SELECT * FROM checks WHERE check_id = ?').get(checkId) as
      | { check_id: string; started_by: string; target_state: string | null; within_ms: number; started_at: number; deadline: number; ended_at: number | null }
      | undefined;
    if (!row) return null;
    return { checkId: row.check_id, startedBy: row.started_by, targetState: row.target_state, withinMs: row.within_ms, startedAt: row.started_at, deadline: row.deadline, endedAt: row.ended_at };
  }

  /** Ids of the checks whose id starts with `prefix` (at most `limit`), for the short ids people type. */
  checkIdsByPrefix(prefix: string, limit = 5): string[] {
    const rows = this.stmt("SELECT check_id FROM checks WHERE check_id LIKE ? || '%' ESCAPE '\\' ORDER BY check_id LIMIT ?").all(prefix.replace(/[%_\\]/g, '\\$&'), limit) as { check_id: string }[];
    return rows.map((r) => r.check_id);
  }

  checkTargets(checkId: string): CheckTargetRecord[] {
    const rows = this.stmt('SELECT * FROM check_targets WHERE check_id = ? ORDER BY state, role, name').all(checkId) as {
      kid: string; state: string; role: Role; name: string; received_at: number | null; receipt_sig: string | null; acked_at: number | null; ack_sig: string | null;
    }[];
    return rows.map((r) => ({ kid: r.kid, state: r.state, role: r.role, name: r.name, receivedAt: r.received_at, receiptSig: r.receipt_sig, ackedAt: r.acked_at, ackSig: r.ack_sig }));
  }

  /** Records a device receipt or a person's ack for a check target, once; false when already recorded or not a target. */
  recordCheckAnswer(checkId: string, kid: string, kind: 'receipt' | 'ack', at: number, sig: string): boolean {
    const sql =
      kind === 'receipt'
        ? 'UPDATE check_targets SET received_at = ?, receipt_sig = ? WHERE check_id = ? AND kid = ? AND received_at IS NULL'
        : 'UPDATE check_targets SET acked_at = ?, ack_sig = ? WHERE check_id = ? AND kid = ? AND acked_at IS NULL';
    return this.stmt(sql).run(at, sig, checkId, kid).changes === 1;
  }

  openChecksDueBy(now: number): CheckRecord[] {
    const ids = this.stmt('SELECT check_id FROM checks WHERE ended_at IS NULL AND deadline <= ? ORDER BY deadline').all(now) as { check_id: string }[];
    return ids.map((r) => this.getCheck(r.check_id)).filter((c): c is CheckRecord => c !== null);
  }

  nextOpenCheckDeadline(): number | null {
    return (this.stmt('SELECT MIN(deadline) AS d FROM checks WHERE ended_at IS NULL').get() as { d: number | null }).d;
  }

  endCheck(checkId: string, now: number): boolean {
    return this.stmt('UPDATE checks SET ended_at = ? WHERE check_id = ? AND ended_at IS NULL').run(now, checkId).changes === 1;
  }

  /** Every active PoC and alternate (of one state, or of all). */
  activeResponders(state: string | null): MemberRecord[] {
    const rows = (state
      ? this.stmt("SELECT * FROM members WHERE state = ? AND revoked_at IS NULL AND role IN ('poc', 'alternate') ORDER BY state, role, name").all(state)
      : this.stmt("SELECT * FROM members WHERE revoked_at IS NULL AND role IN ('poc', 'alternate') ORDER BY state, role, name").all()) as MemberRow[];
    return rows.map(toMember);
  }

  // ---- audit ----

  auditHead(): AuditEvent | null {
    return this.head;
  }

  /** Hash of the audit event at `seq`, or null when there is none. */
  auditHashAt(seq: number): string | null {
    if (this.head?.seq === seq) return this.head.hash;
    return (this.stmt('SELECT hash FROM audit_events WHERE seq = ?').pluck().get(seq) as string | undefined) ?? null;
  }

  private loadHead(): AuditEvent | null {
    const row = this.stmt('SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; at: number; type: string; data_json: string; prev: string; hash: string }
      | undefined;
    return row ? { seq: row.seq, at: row.at, type: row.type, data: JSON.parse(row.data_json) as Record<string, unknown>, prev: row.prev, hash: row.hash } : null;
  }

  /** Appends the next event to the hash chain. Call inside a transaction; the in-memory head is reloaded if it rolls back. */
  appendAudit(at: number, type: string, data: Record<string, unknown>): AuditEvent {
    const event = nextAuditEvent(this.head, at, type, data);
    this
      .stmt('INSERT INTO audit_events (seq, at, type, data_json, prev, hash) VALUES (?, ?, ?, ?, ?, ?)')
      .run(event.seq, event.at, event.type, JSON.stringify(event.data), event.prev, event.hash);
    this.head = event;
    return event;
  }

  /** After a failed transaction: the head in memory must match the database again. */
  reloadAuditHead(): void {
    this.head = this.loadHead();
  }

  putCheckpoint(cp: AuditCheckpoint): void {
    this.stmt('INSERT OR IGNORE INTO audit_checkpoints (seq, head, at, relay, sig) VALUES (?, ?, ?, ?, ?)').run(cp.seq, cp.head, cp.at, cp.relay, cp.sig);
  }

  lastCheckpointSeq(): number {
    const row = this.stmt('SELECT MAX(seq) AS seq FROM audit_checkpoints').get() as { seq: number | null };
    return row.seq ?? 0;
  }

  auditEvents(fromSeq: number, limit: number): AuditEvent[] {
    const rows = this.stmt('SELECT * FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT ?').all(fromSeq, limit) as {
      seq: number;
      at: number;
      type: string;
      data_json: string;
      prev: string;
      hash: string;
    }[];
    return rows.map((r) => ({ seq: r.seq, at: r.at, type: r.type, data: JSON.parse(r.data_json) as Record<string, unknown>, prev: r.prev, hash: r.hash }));
  }

  checkpoints(): AuditCheckpoint[] {
    return this.stmt('SELECT seq, head, at, relay, sig FROM audit_checkpoints ORDER BY seq').all() as AuditCheckpoint[];
  }
}
