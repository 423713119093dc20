// A PoC's local history (better-sqlite3 in HOTLINE_HOME): messages sent and received with plaintext, pinned contacts, the send sequence.
import Database from 'better-sqlite3';
import type { DrillMark, EnvelopeHeader, Level, RelayReceipt, Role } from '../shared/index.ts';

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY, direction TEXT NOT NULL, kind TEXT NOT NULL, channel TEXT NOT NULL, from_kid TEXT NOT NULL,
  from_state TEXT NOT NULL, to_state TEXT NOT NULL, level TEXT, drill_json TEXT, seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL, accepted_at INTEGER, ack_deadline INTEGER, refs_json TEXT NOT NULL,
  subject TEXT, text TEXT, recorded_at INTEGER NOT NULL, receipt_json TEXT
);
CREATE INDEX IF NOT EXISTS messages_kind ON messages(kind, accepted_at);
CREATE TABLE IF NOT EXISTS message_refs (ref_id TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (ref_id, id));
CREATE TABLE IF NOT EXISTS contacts (
  kid TEXT PRIMARY KEY, state TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
  first_seen INTEGER NOT NULL, verified_at INTEGER, status TEXT NOT NULL, replaces TEXT
);
CREATE INDEX IF NOT EXISTS contacts_state_name ON contacts(state, name);
CREATE TABLE IF NOT EXISTS sender_seqs (kid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
`;

export interface MessageRecord {
  readonly id: string;
  readonly direction: 'in' | 'out';
  readonly kind: EnvelopeHeader['kind'];
  readonly channel: string;
  readonly from: string;
  readonly fromState: string;
  readonly toState: string;
  readonly level: Level | null;
  readonly drill: DrillMark | null;
  readonly seq: number;
  readonly createdAt: number;
  readonly acceptedAt: number | null;
  readonly ackDeadline: number | null;
  readonly refs: readonly string[];
  readonly subject: string | null;
  readonly text: string | null;
  readonly recordedAt: number;
  readonly receipt: RelayReceipt | null;
}

/** pinned: seen first and trusted on first use; verified: fingerprint checked by a person; changed: a new key for a known PoC, blocked until trusted. */
export type ContactStatus = 'pinned' | 'verified' | 'changed';

export interface ContactRecord {
  readonly kid: string;
  readonly state: string;
  readonly name: string;
  readonly role: Role;
  readonly firstSeen: number;
  readonly verifiedAt: number | null;
  readonly status: ContactStatus;
  /** The key this one replaced, for a changed key. */
  readonly replaces: string | null;
}

interface MessageRow {
  id: string;
  direction: 'in' | 'out';
  kind: EnvelopeHeader['kind'];
  channel: string;
  from_kid: string;
  from_state: string;
  to_state: string;
  level: Level | null;
  drill_json: string | null;
  seq: number;
  created_at: number;
  accepted_at: number | null;
  ack_deadline: number | null;
  refs_json: string;
  subject: string | null;
  text: string | null;
  recorded_at: number;
  receipt_json: string | null;
}

function toMessage(r: MessageRow): MessageRecord {
  return {
    id: r.id,
    direction: r.direction,
    kind: r.kind,
    channel: r.channel,
    from: r.from_kid,
    fromState: r.from_state,
    toState: r.to_state,
    level: r.level,
    drill: r.drill_json ? (JSON.parse(r.drill_json) as DrillMark) : null,
    seq: r.seq,
    createdAt: r.created_at,
    acceptedAt: r.accepted_at,
    ackDeadline: r.ack_deadline,
    refs: JSON.parse(r.refs_json) as string[],
    subject: r.subject,
    text: r.text,
    recordedAt: r.recorded_at,
    receipt: r.receipt_json ? (JSON.parse(r.receipt_json) as RelayReceipt) : null,
  };
}

interface ContactRow {
  kid: string;
  state: string;
  name: string;
  role: Role;
  first_seen: number;
  verified_at: number | null;
  status: ContactStatus;
  replaces: string | null;
}

function toContact(r: ContactRow): ContactRecord {
  return { kid: r.kid, state: r.state, name: r.name, role: r.role, firstSeen: r.first_seen, verifiedAt: r.verified_at, status: r.status, replaces: r.replaces };
}

export class HistoryStore {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(schema);
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared once per SQL text (a handful of texts): preparing cost more than running on every send and receive. */
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

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** The next send sequence number for this identity (atomic across processes sharing HOTLINE_HOME). */
  nextSeq(): number {
    return this.transaction(() => {
      const row = this.stmt("SELECT value FROM meta WHERE key = 'seq'").get() as { value: string } | undefined;
      const next = Number(row?.value ?? '0') + 1;
      this.stmt("INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(next));
      return next;
    });
  }

  /** Raises the local counter to at least `seq` (after the relay says ours is stale). */
  bumpSeq(seq: number): void {
    this
      .stmt("INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))")
      .run(String(seq));
  }

  getMeta(key: string): string | null {
    return (this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  has(id: string): boolean {
    return this.stmt('SELECT 1 FROM messages WHERE id = ?').get(id) !== undefined;
  }

  /** Records a message once; false when the id was already recorded (the dedupe behind exactly-once). */
  record(m: Omit<MessageRecord, 'recordedAt'>, now: number): boolean {
    const inserted = this
      .stmt(
        `INSERT OR IGNORE INTO messages (id, direction, kind, channel, from_kid, from_state, to_state, level, drill_json, seq, created_at,
           accepted_at, ack_deadline, refs_json, subject, text, recorded_at, receipt_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        m.id, m.direction, m.kind, m.channel, m.from, m.fromState, m.toState, m.level, m.drill ? JSON.stringify(m.drill) : null, m.seq,
        m.createdAt, m.acceptedAt, m.ackDeadline, JSON.stringify(m.refs), m.subject, m.text, now, m.receipt ? JSON.stringify(m.receipt) : null,
      ).changes === 1;
    if (inserted) {
      const ref = this.stmt('INSERT OR IGNORE INTO message_refs (ref_id, id) VALUES (?, ?)');
      for (const r of m.refs) ref.run(r, m.id);
    }
    return inserted;
  }

  /** Remembers the highest seq seen from a sender; returns the previous one (for gap detection). */
  noteSenderSeq(kid: string, seq: number): number {
    const prev = (this.stmt('SELECT last_seq FROM sender_seqs WHERE kid = ?').get(kid) as { last_seq: number } | undefined)?.last_seq ?? 0;
    if (seq > prev) this.stmt('INSERT INTO sender_seqs (kid, last_seq) VALUES (?, ?) ON CONFLICT(kid) DO UPDATE SET last_seq = excluded.last_seq').run(kid, seq);
    return prev;
  }

  get(id: string): MessageRecord | null {
    const row = this.stmt('SELECT * FROM messages WHERE id = ?').get(id) as MessageRow | undefined;
    return row ? toMessage(row) : null;
  }

  /** Finds a message by full id or by a unique prefix of at least 8 characters (what a person types). */
  resolveId(idOrPrefix: string): MessageRecord[] {
    if (idOrPrefix.length < 8) return [];
    const rows = this.stmt("SELECT * FROM messages WHERE id LIKE ? || '%' ESCAPE '\\' LIMIT 5").all(idOrPrefix.replace(/[%_\\]/g, '\\$&')) as MessageRow[];
    return rows.map(toMessage);
  }

  /** Messages that reference `id` (acks, receipts, replies, raises), oldest first. */
  referencing(id: string): MessageRecord[] {
    const rows = this
      .stmt('SELECT m.* FROM message_refs r JOIN messages m ON m.id = r.id WHERE r.ref_id = ? ORDER BY COALESCE(m.accepted_at, m.created_at)')
      .all(id) as MessageRow[];
    return rows.map(toMessage);
  }

  list(filter: { kinds?: readonly string[]; direction?: 'in' | 'out'; limit?: number } = {}): MessageRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.kinds?.length) {
      where.push(`kind IN (${filter.kinds.map(() => '?').join(',')})`);
      args.push(...filter.kinds);
    }
    if (filter.direction) {
      where.push('direction = ?');
      args.push(filter.direction);
    }
    const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY COALESCE(accepted_at, created_at) DESC, id DESC LIMIT ?`;
    args.push(filter.limit ?? 1000);
    return (this.stmt(sql).all(...args) as MessageRow[]).map(toMessage);
  }

  // ---- contacts (trust on first use) ----

  contact(kid: string): ContactRecord | null {
    const row = this.stmt('SELECT * FROM contacts WHERE kid = ?').get(kid) as ContactRow | undefined;
    return row ? toContact(row) : null;
  }

  contactsByName(state: string, name: string): ContactRecord[] {
    return (this.stmt('SELECT * FROM contacts WHERE state = ? AND name = ? ORDER BY first_seen').all(state, name) as ContactRow[]).map(toContact);
  }

  contacts(): ContactRecord[] {
    return (this.stmt('SELECT * FROM contacts ORDER BY state, name, first_seen').all() as ContactRow[]).map(toContact);
  }

  addContact(c: Omit<ContactRecord, 'verifiedAt'>): void {
    this
      .stmt('INSERT OR IGNORE INTO contacts (kid, state, name, role, first_seen, status, replaces) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(c.kid, c.state, c.name, c.role, c.firstSeen, c.status, c.replaces);
  }

  markVerified(kid: string, now: number): void {
    this.stmt("UPDATE contacts SET status = 'verified', verified_at = ? WHERE kid = ?").run(now, kid);
  }
}
