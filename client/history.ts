// A PoC's local history (better-sqlite3 in HOTLINE_HOME, 0600): messages sent and received (subject and text sealed under the keystore's history key), pinned contacts, the send sequence, and the evidence (own and senders' chains, alarms, disputed receipts, witness statements).
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { fromB64u, fromUtf8, HotlineError, open, seal, toB64u, utf8 } from '../shared/index.ts';
import type { ChainLink, ChainPosition, ChainState, DrillMark, EnvelopeHeader, Level, RelayReceipt, Role, TemplateRef, Tlp, WitnessStatement } from '../shared/index.ts';

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
CREATE TABLE IF NOT EXISTS own_chain (channel TEXT PRIMARY KEY, chan_seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS own_envelopes (
  hash TEXT PRIMARY KEY, channel TEXT NOT NULL, chan_seq INTEGER NOT NULL, envelope_json TEXT NOT NULL, accepted INTEGER NOT NULL, built_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS own_envelopes_seq ON own_envelopes(channel, chan_seq);
CREATE TABLE IF NOT EXISTS sender_chains (
  channel TEXT NOT NULL, kid TEXT NOT NULL, position_seq INTEGER, position_hash TEXT, ahead_json TEXT NOT NULL,
  PRIMARY KEY (channel, kid)
);
CREATE TABLE IF NOT EXISTS chain_links (
  channel TEXT NOT NULL, kid TEXT NOT NULL, chan_seq INTEGER NOT NULL, hash TEXT NOT NULL, envelope_id TEXT NOT NULL,
  PRIMARY KEY (channel, kid, chan_seq, hash)
);
CREATE INDEX IF NOT EXISTS chain_links_id ON chain_links(envelope_id);
CREATE TABLE IF NOT EXISTS chain_missing (
  channel TEXT NOT NULL, kid TEXT NOT NULL, chan_seq INTEGER NOT NULL, since INTEGER NOT NULL, alarmed_at INTEGER,
  PRIMARY KEY (channel, kid, chan_seq)
);
CREATE TABLE IF NOT EXISTS alarms (
  n INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL, message TEXT NOT NULL, envelope_id TEXT, relay TEXT,
  channel TEXT, at INTEGER NOT NULL, closed_at INTEGER, key TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS receipt_problems (
  n INTEGER PRIMARY KEY AUTOINCREMENT, relay TEXT NOT NULL, envelope_id TEXT NOT NULL, receipt_json TEXT NOT NULL, problem TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS relay_events_seen (relay TEXT NOT NULL, audit_seq INTEGER NOT NULL, PRIMARY KEY (relay, audit_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS witnesses (
  relay TEXT NOT NULL, seq INTEGER NOT NULL, head TEXT NOT NULL, at INTEGER NOT NULL, statement_json TEXT NOT NULL, outcome TEXT,
  PRIMARY KEY (relay, seq, head)
);
`;

/** An alarm as kept in the history: open until what it reports is resolved (a missing link that arrived after all). */
export interface AlarmRecord {
  readonly n: number;
  readonly code: string;
  readonly message: string;
  readonly id: string | null;
  readonly relay: string | null;
  readonly channel: string | null;
  readonly at: number;
  readonly closedAt: number | null;
}

/** A relay receipt that contradicts what this client saw, kept as evidence. */
export interface ReceiptProblem {
  readonly relay: string;
  readonly envelopeId: string;
  readonly receipt: RelayReceipt;
  readonly problem: string;
  readonly at: number;
}

/** A sender-chain link this PoC expects but does not hold. */
export interface MissingLink {
  readonly channel: string;
  readonly kid: string;
  readonly chanSeq: number;
  readonly since: number;
  readonly alarmedAt: number | null;
}

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
  /** TLP 2.0 label of the notice; null on notices from clients before templates (read as TLP:AMBER). */
  readonly tlp?: Tlp | null;
  /** A template notice's catalogue, template and field values (sealed at rest like the text). */
  readonly template?: TemplateRef | null;
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
  tlp: Tlp | null;
  template_json: string | null;
  recorded_at: number;
  receipt_json: string | null;
}

function toMessage(r: MessageRow, content: (id: string, field: ContentField, stored: string | null) => string | null): MessageRecord {
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
    subject: content(r.id, 'subject', r.subject),
    text: content(r.id, 'text', r.text),
    tlp: r.tlp ?? null,
    template: r.template_json ? (JSON.parse(content(r.id, 'template', r.template_json) as string) as TemplateRef) : null,
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

/** Binds a sealed value to its row and field: a ciphertext moved to another message or field does not open. */
function contentAad(id: string, field: ContentField): Uint8Array {
  return utf8(`hotline-history-content-v1\u0000${id}\u0000${field}`);
}

function noContentKey(): HotlineError {
  return new HotlineError('INTERNAL', 'the history was opened without its content key: open it with the keystore (HotlineClient)');
}

function toContact(r: ContactRow): ContactRecord {
  return { kid: r.kid, state: r.state, name: r.name, role: r.role, firstSeen: r.first_seen, verifiedAt: r.verified_at, status: r.status, replaces: r.replaces };
}

/** The message fields that are content (what a person wrote), sealed at rest; everything else in a row is metadata. */
type ContentField = 'subject' | 'text' | 'template';

/** meta key set once every message's content in the file is sealed (a new file, or an old one after its migration). */
const CONTENT_SEALED_META = 'content_sealed_v1';

export interface HistoryOptions {
  /**
   * The 32-byte key that seals message subjects and texts (Keystore.historyKey()). Without it the store serves
   * everything but messages: contacts, trust documents, witness statements.
   */
  readonly contentKey?: Uint8Array;
}

/** Creates `file` for this user only (0600) if it is missing, and tightens it if it is there, whatever the umask. */
function privateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
  } catch (cause) {
    throw new HotlineError('BAD_INPUT', `cannot open ${file} for this user only: ${(cause as Error).message}`, { cause });
  }
}

export class HistoryStore {
  readonly db: Database.Database;
  readonly #contentKey: Uint8Array | null;

  /**
   * Opens (or creates, 0600) the history at `path`. With `contentKey`, rows an older version kept in the clear are
   * sealed in one transaction on this first open, and the space they held is overwritten (secure_delete, WAL
   * truncated). SQLite makes -wal and -shm with the database file's mode, so they are 0600 too.
   */
  constructor(path: string, options: HistoryOptions = {}) {
    privateFile(path);
    for (const side of [`${path}-wal`, `${path}-shm`]) if (fs.existsSync(side)) privateFile(side);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    // Deleted and overwritten content is zeroed in the file, not left in free pages.
    this.db.pragma('secure_delete = ON');
    this.db.exec(schema);
    // Templates and TLP (issue 19): two columns added to files of earlier versions.
    const columns = new Set((this.db.prepare('PRAGMA table_info(messages)').all() as { name: string }[]).map((c) => c.name));
    if (!columns.has('tlp')) this.db.exec('ALTER TABLE messages ADD COLUMN tlp TEXT');
    if (!columns.has('template_json')) this.db.exec('ALTER TABLE messages ADD COLUMN template_json TEXT');
    this.#contentKey = options.contentKey ?? null;
    if (this.#contentKey !== null) this.#sealClearContent();
  }

  /** Seals what an older version kept in the clear, once per file, in one transaction (a new file has nothing to seal). */
  #sealClearContent(): void {
    if (this.getMeta(CONTENT_SEALED_META) !== null) return;
    let sealed = 0;
    this.transaction(() => {
      if (this.getMeta(CONTENT_SEALED_META) !== null) return;
      const rows = this.db.prepare('SELECT id, subject, text FROM messages WHERE subject IS NOT NULL OR text IS NOT NULL').all() as { id: string; subject: string | null; text: string | null }[];
      const update = this.db.prepare('UPDATE messages SET subject = ?, text = ? WHERE id = ?');
      for (const r of rows) update.run(this.#sealContent(r.id, 'subject', r.subject), this.#sealContent(r.id, 'text', r.text), r.id);
      sealed = rows.length;
      this.setMeta(CONTENT_SEALED_META, String(Date.now()));
    });
    // The clear pages may still sit in the write-ahead log until it is checkpointed and cut.
    if (sealed > 0) this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  #sealContent(id: string, field: ContentField, value: string | null): string | null {
    if (value === null) return null;
    if (this.#contentKey === null) throw noContentKey();
    return toB64u(seal(this.#contentKey, utf8(value), contentAad(id, field)));
  }

  #openContent = (id: string, field: ContentField, stored: string | null): string | null => {
    if (stored === null) return null;
    if (this.#contentKey === null) throw noContentKey();
    try {
      return fromUtf8(open(this.#contentKey, fromB64u(stored), contentAad(id, field)));
    } catch (cause) {
      throw new HotlineError('DECRYPT_FAILED', `the ${field} of ${id} in the history does not open with this identity's key (altered, or another identity's history)`, { cause });
    }
  };

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

  /** Records that the relay event at `auditSeq` of `relay` was shown; false when it already was (a resend, or a replay on the wire). */
  noteRelayEvent(relay: string, auditSeq: number): boolean {
    return this.stmt('INSERT OR IGNORE INTO relay_events_seen (relay, audit_seq) VALUES (?, ?)').run(relay, auditSeq).changes === 1;
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
           accepted_at, ack_deadline, refs_json, subject, text, recorded_at, receipt_json, tlp, template_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        m.id, m.direction, m.kind, m.channel, m.from, m.fromState, m.toState, m.level, m.drill ? JSON.stringify(m.drill) : null, m.seq,
        m.createdAt, m.acceptedAt, m.ackDeadline, JSON.stringify(m.refs), this.#sealContent(m.id, 'subject', m.subject), this.#sealContent(m.id, 'text', m.text),
        now, m.receipt ? JSON.stringify(m.receipt) : null, m.tlp ?? null, m.template ? this.#sealContent(m.id, 'template', JSON.stringify(m.template)) : null,
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
    return row ? toMessage(row, this.#openContent) : null;
  }

  /** Finds a message by full id or by a unique prefix of at least 8 characters (what a person types). */
  resolveId(idOrPrefix: string): MessageRecord[] {
    if (idOrPrefix.length < 8) return [];
    const rows = this.stmt("SELECT * FROM messages WHERE id LIKE ? || '%' ESCAPE '\\' LIMIT 5").all(idOrPrefix.replace(/[%_\\]/g, '\\$&')) as MessageRow[];
    return rows.map((r) => toMessage(r, this.#openContent));
  }

  /** Messages that reference `id` (acks, receipts, replies, raises), oldest first. */
  referencing(id: string): MessageRecord[] {
    const rows = this
      .stmt('SELECT m.* FROM message_refs r JOIN messages m ON m.id = r.id WHERE r.ref_id = ? ORDER BY COALESCE(m.accepted_at, m.created_at)')
      .all(id) as MessageRow[];
    return rows.map((r) => toMessage(r, this.#openContent));
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
    return (this.stmt(sql).all(...args) as MessageRow[]).map((r) => toMessage(r, this.#openContent));
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

  // ---- own sender chain (per channel) ----

  /** The last envelope of this identity's chain on `channel` that a relay accepted (null: none yet). */
  ownChainHead(channel: string): ChainPosition | null {
    const row = this.stmt('SELECT chan_seq, hash FROM own_chain WHERE channel = ?').get(channel) as { chan_seq: number; hash: string } | undefined;
    return row ? { chanSeq: row.chan_seq, hash: row.hash } : null;
  }

  setOwnChainHead(channel: string, head: ChainPosition): void {
    this.stmt('INSERT INTO own_chain (channel, chan_seq, hash) VALUES (?, ?, ?) ON CONFLICT(channel) DO UPDATE SET chan_seq = excluded.chan_seq, hash = excluded.hash').run(channel, head.chanSeq, head.hash);
  }

  /** Keeps an envelope this identity built (before it is submitted: a lost answer can be recognised by its hash later). */
  keepOwnEnvelope(channel: string, chanSeq: number, hash: string, envelopeJson: string, now: number): void {
    this.stmt('INSERT OR IGNORE INTO own_envelopes (hash, channel, chan_seq, envelope_json, accepted, built_at) VALUES (?, ?, ?, ?, 0, ?)').run(hash, channel, chanSeq, envelopeJson, now);
  }

  /** Marks an own envelope accepted by some relay: the one resent under its chanSeq to a relay that lacks it. */
  markOwnEnvelopeAccepted(hash: string): void {
    this.stmt('UPDATE own_envelopes SET accepted = 1 WHERE hash = ?').run(hash);
  }

  /** The accepted own envelope at (channel, chanSeq), as JSON (null when not held). */
  ownEnvelopeAt(channel: string, chanSeq: number): { hash: string; envelopeJson: string } | null {
    const row = this.stmt('SELECT hash, envelope_json FROM own_envelopes WHERE channel = ? AND chan_seq = ? AND accepted = 1').get(channel, chanSeq) as
      | { hash: string; envelope_json: string }
      | undefined;
    return row ? { hash: row.hash, envelopeJson: row.envelope_json } : null;
  }

  /** An own envelope by hash, accepted or not. */
  ownEnvelopeByHash(hash: string): { channel: string; chanSeq: number; envelopeJson: string } | null {
    const row = this.stmt('SELECT channel, chan_seq, envelope_json FROM own_envelopes WHERE hash = ?').get(hash) as
      | { channel: string; chan_seq: number; envelope_json: string }
      | undefined;
    return row ? { channel: row.channel, chanSeq: row.chan_seq, envelopeJson: row.envelope_json } : null;
  }

  // ---- senders' chains as this recipient holds them ----

  senderChain(channel: string, kid: string): ChainState {
    const row = this.stmt('SELECT position_seq, position_hash, ahead_json FROM sender_chains WHERE channel = ? AND kid = ?').get(channel, kid) as
      | { position_seq: number | null; position_hash: string | null; ahead_json: string }
      | undefined;
    if (!row) return { position: null, ahead: new Map() };
    const ahead = new Map((JSON.parse(row.ahead_json) as ChainLink[]).map((l) => [l.chanSeq, l] as const));
    return { position: row.position_seq !== null && row.position_hash !== null ? { chanSeq: row.position_seq, hash: row.position_hash } : null, ahead };
  }

  setSenderChain(channel: string, kid: string, state: ChainState): void {
    this
      .stmt(
        `INSERT INTO sender_chains (channel, kid, position_seq, position_hash, ahead_json) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(channel, kid) DO UPDATE SET position_seq = excluded.position_seq, position_hash = excluded.position_hash, ahead_json = excluded.ahead_json`,
      )
      .run(channel, kid, state.position?.chanSeq ?? null, state.position?.hash ?? null, JSON.stringify([...state.ahead.values()]));
  }

  /** Notes which envelope a link is (to recognise a late redelivery of it). */
  noteChainLink(channel: string, kid: string, link: ChainLink, envelopeId: string): void {
    this.stmt('INSERT OR IGNORE INTO chain_links (channel, kid, chan_seq, hash, envelope_id) VALUES (?, ?, ?, ?, ?)').run(channel, kid, link.chanSeq, link.hash, envelopeId);
  }

  chainLinkOf(envelopeId: string): { channel: string; kid: string; chanSeq: number } | null {
    const row = this.stmt('SELECT channel, kid, chan_seq FROM chain_links WHERE envelope_id = ? LIMIT 1').get(envelopeId) as { channel: string; kid: string; chan_seq: number } | undefined;
    return row ? { channel: row.channel, kid: row.kid, chanSeq: row.chan_seq } : null;
  }

  /** Records the chanSeqs now missing (keeping the time each was first missed) and forgets those no longer missing. */
  syncMissing(channel: string, kid: string, missing: readonly number[], now: number): void {
    const held = (this.stmt('SELECT chan_seq FROM chain_missing WHERE channel = ? AND kid = ?').pluck().all(channel, kid) as number[]);
    const want = new Set(missing);
    for (const n of held) if (!want.has(n)) this.stmt('DELETE FROM chain_missing WHERE channel = ? AND kid = ? AND chan_seq = ?').run(channel, kid, n);
    for (const n of missing) this.stmt('INSERT OR IGNORE INTO chain_missing (channel, kid, chan_seq, since) VALUES (?, ?, ?, ?)').run(channel, kid, n, now);
  }

  missingLinks(): MissingLink[] {
    const rows = this.stmt('SELECT * FROM chain_missing ORDER BY channel, kid, chan_seq').all() as { channel: string; kid: string; chan_seq: number; since: number; alarmed_at: number | null }[];
    return rows.map((r) => ({ channel: r.channel, kid: r.kid, chanSeq: r.chan_seq, since: r.since, alarmedAt: r.alarmed_at }));
  }

  markMissingAlarmed(channel: string, kid: string, chanSeqs: readonly number[], now: number): void {
    for (const n of chanSeqs) this.stmt('UPDATE chain_missing SET alarmed_at = ? WHERE channel = ? AND kid = ? AND chan_seq = ?').run(now, channel, kid, n);
  }

  // ---- alarms and evidence ----

  /** Keeps an alarm (once per `key`); false when it was already on record. */
  addAlarm(a: Omit<AlarmRecord, 'n' | 'closedAt'>, key: string): boolean {
    return (
      this
        .stmt('INSERT OR IGNORE INTO alarms (code, message, envelope_id, relay, channel, at, key) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(a.code, a.message, a.id, a.relay, a.channel, a.at, key).changes === 1
    );
  }

  /** Closes the open alarms whose key starts with `keyPrefix`. */
  closeAlarms(keyPrefix: string, now: number): number {
    return this.stmt("UPDATE alarms SET closed_at = ? WHERE closed_at IS NULL AND key LIKE ? || '%' ESCAPE '\\'").run(now, keyPrefix.replace(/[%_\\]/g, '\\$&')).changes;
  }

  alarms(filter: { open?: boolean; code?: string; channel?: string } = {}): AlarmRecord[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.open) where.push('closed_at IS NULL');
    if (filter.code !== undefined) {
      where.push('code = ?');
      args.push(filter.code);
    }
    if (filter.channel !== undefined) {
      where.push('channel = ?');
      args.push(filter.channel);
    }
    const rows = this.stmt(`SELECT * FROM alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY n`).all(...args) as {
      n: number; code: string; message: string; envelope_id: string | null; relay: string | null; channel: string | null; at: number; closed_at: number | null;
    }[];
    return rows.map((r) => ({ n: r.n, code: r.code, message: r.message, id: r.envelope_id, relay: r.relay, channel: r.channel, at: r.at, closedAt: r.closed_at }));
  }

  addReceiptProblem(p: ReceiptProblem): void {
    this.stmt('INSERT INTO receipt_problems (relay, envelope_id, receipt_json, problem, at) VALUES (?, ?, ?, ?, ?)').run(p.relay, p.envelopeId, JSON.stringify(p.receipt), p.problem, p.at);
  }

  receiptProblems(): ReceiptProblem[] {
    const rows = this.stmt('SELECT * FROM receipt_problems ORDER BY n').all() as { relay: string; envelope_id: string; receipt_json: string; problem: string; at: number }[];
    return rows.map((r) => ({ relay: r.relay, envelopeId: r.envelope_id, receipt: JSON.parse(r.receipt_json) as RelayReceipt, problem: r.problem, at: r.at }));
  }

  // ---- witness statements this PoC signed ----

  addWitness(statement: WitnessStatement): void {
    this
      .stmt('INSERT OR IGNORE INTO witnesses (relay, seq, head, at, statement_json) VALUES (?, ?, ?, ?, ?)')
      .run(statement.relay, statement.seq, statement.head, statement.at, JSON.stringify(statement));
  }

  /** What the relay answered to a statement: ok, or the error code. */
  setWitnessOutcome(statement: WitnessStatement, outcome: string): void {
    this.stmt('UPDATE witnesses SET outcome = ? WHERE relay = ? AND seq = ? AND head = ?').run(outcome, statement.relay, statement.seq, statement.head);
  }

  witnesses(): { statement: WitnessStatement; outcome: string | null }[] {
    const rows = this.stmt('SELECT statement_json, outcome FROM witnesses ORDER BY relay, seq').all() as { statement_json: string; outcome: string | null }[];
    return rows.map((r) => ({ statement: JSON.parse(r.statement_json) as WitnessStatement, outcome: r.outcome }));
  }

  markVerified(kid: string, now: number): void {
    this.stmt("UPDATE contacts SET status = 'verified', verified_at = ? WHERE kid = ?").run(now, kid);
  }
}
