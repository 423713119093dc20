// The PoC's verified trust documents (every roster and charter version it checked), kept in its history database.
import type Database from 'better-sqlite3';
import { charterHash, rosterHash, type CharterBody, type RosterBody, type SignedCharter, type SignedRoster, type TrustView } from '../../shared/index.ts';

const schema = `
CREATE TABLE IF NOT EXISTS trust_docs (
  kind TEXT NOT NULL, subject TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL, doc_json TEXT NOT NULL,
  verified_at INTEGER NOT NULL, PRIMARY KEY (kind, subject, version)
) WITHOUT ROWID;
`;

type Kind = 'roster' | 'charter';

/**
 * Only documents that passed verification (client/trust/trust-keeper.ts) are ever written here.
 * Several processes share one home (`hotline listen` in one terminal, `hotline ack` in another): what is newest is
 * asked of the database whenever another connection has written to it (SQLite's data_version), never assumed from
 * this process's cache — a listener that kept charter version 1 in memory while `hotline inbox` stored version 2 sent
 * every receipt under version 1 and had each refused as TRUST_STALE.
 */
export class TrustStore {
  /** Documents by kind, subject and version (a version never changes), and the newest per subject. */
  private readonly cache = new Map<string, unknown>();
  /** Names by key from the newest rosters, built on first use and dropped when a document is added. */
  private names: Map<string, string> | null = null;
  private dataVersion: unknown = null;

  constructor(private readonly db: Database.Database) {
    db.exec(schema);
  }

  /** Forgets what is newest when another connection (another process on this home) has committed since. */
  private revalidate(): void {
    const version = this.db.pragma('data_version', { simple: true });
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    for (const key of [...this.cache.keys()]) if (key.endsWith(':latest')) this.cache.delete(key);
    this.names = null;
  }

  private get<T>(kind: Kind, subject: string, version: number | null): T | null {
    if (version === null) this.revalidate();
    const key = `${kind}:${subject}:${version ?? 'latest'}`;
    if (this.cache.has(key)) return this.cache.get(key) as T;
    const row = (
      version === null
        ? this.db.prepare('SELECT doc_json FROM trust_docs WHERE kind = ? AND subject = ? ORDER BY version DESC LIMIT 1').get(kind, subject)
        : this.db.prepare('SELECT doc_json FROM trust_docs WHERE kind = ? AND subject = ? AND version = ?').get(kind, subject, version)
    ) as { doc_json: string } | undefined;
    const doc = row ? (JSON.parse(row.doc_json) as T) : null;
    if (doc !== null) this.cache.set(key, doc);
    return doc;
  }

  latestCharter(channel: string): SignedCharter | null {
    return this.get<SignedCharter>('charter', channel, null);
  }

  charter(channel: string, version: number): SignedCharter | null {
    return this.get<SignedCharter>('charter', channel, version);
  }

  latestRoster(state: string): SignedRoster | null {
    return this.get<SignedRoster>('roster', state, null);
  }

  roster(state: string, version: number): SignedRoster | null {
    return this.get<SignedRoster>('roster', state, version);
  }

  /** Every charter held, newest version per channel. */
  charters(): SignedCharter[] {
    const rows = this.db.prepare("SELECT DISTINCT subject FROM trust_docs WHERE kind = 'charter' ORDER BY subject").all() as { subject: string }[];
    return rows.map((r) => this.latestCharter(r.subject)).filter((c): c is SignedCharter => c !== null);
  }

  /** Every roster held, newest version per state. */
  rosters(): SignedRoster[] {
    const rows = this.db.prepare("SELECT DISTINCT subject FROM trust_docs WHERE kind = 'roster' ORDER BY subject").all() as { subject: string }[];
    return rows.map((r) => this.latestRoster(r.subject)).filter((c): c is SignedRoster => c !== null);
  }

  addCharter(doc: SignedCharter, now: number): void {
    this.put('charter', doc.charter.channel, doc.charter.version, charterHash(doc.charter), doc, now);
  }

  addRoster(doc: SignedRoster, now: number): void {
    this.put('roster', doc.roster.state, doc.roster.version, rosterHash(doc.roster), doc, now);
  }

  private put(kind: Kind, subject: string, version: number, hash: string, doc: unknown, now: number): void {
    this.db.prepare('INSERT OR IGNORE INTO trust_docs (kind, subject, version, hash, doc_json, verified_at) VALUES (?, ?, ?, ?, ?, ?)').run(kind, subject, version, hash, JSON.stringify(doc), now);
    this.cache.delete(`${kind}:${subject}:latest`);
    this.names = null;
  }

  /** The name the newest verified roster gives `kid`, or null (looked up for every message shown). */
  memberName(kid: string): string | null {
    this.revalidate();
    if (!this.names) this.names = new Map(this.rosters().flatMap((r) => r.roster.members.map((m) => [m.kid, m.name] as const)));
    return this.names.get(kid) ?? null;
  }

  /** The documents by version, as the shared/trust checks read them. */
  readonly view: TrustView = {
    charter: (channel: string, version: number): CharterBody | null => this.charter(channel, version)?.charter ?? null,
    roster: (state: string, version: number): RosterBody | null => this.roster(state, version)?.roster ?? null,
  };
}
