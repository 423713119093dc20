// HotlineClient: the SDK a PoC's tools use — connect to one or more relays, send, receive exactly once, receipt, acknowledge, raise.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import {
  advanceChain,
  CHAIN_GENESIS,
  deliveredReceiptDispute,
  digestFromParts,
  envelopeDigest,
  missingLinks,
  ownReceiptDispute,
  signWitness,
  verifyRelayEvent,
  verifySignedParts,
  type ChainItem,
  type ChainLink,
  type ChainPosition,
  type ChainStep,
  type DisputedTime,
  buildEnvelope,
  charterHash,
  checkDrillRefs,
  checkEventDataSchema,
  expectedAckDeadline,
  resolveHeaderTrust,
  rosterHash,
  rosterMember,
  senderStanding,
  watchMembers,
  watchRoles,
  type HeaderTrust,
  type RosterMember,
  type SignedCharter,
  type SignedRoster,
  type TrustRefs,
  fingerprint,
  signStatement,
  HotlineError,
  levelRank,
  openEnvelope,
  parseEnvelope,
  toHotlineError,
  uuidv7,
  verifyReceipt,
  type ChannelInfo,
  type DirectoryEntry,
  type DrillMark,
  type Envelope,
  type WitnessStatement,
  type EnvelopeHeader,
  type Level,
  type RelayMessage,
  type RelayReceipt,
  type Content,
  type Tlp,
} from '../shared/index.ts';
import { HistoryStore, type ContactRecord, type MessageRecord } from './history.ts';
import { ChainLock } from './chain-lock.ts';
import type { Keystore } from './keystore.ts';
import type { Profile } from './profile.ts';
import { RelayConnection, type RelayTlsOptions } from './relay-connection.ts';
import { trustContact } from './trust/contacts.ts';
import { ingestTrustDocuments } from './trust/trust-keeper.ts';
import { TrustStore } from './trust/trust-store.ts';
import { checkIncomingContent, templateContent } from './templates/template-send.ts';

type Deliver = Extract<RelayMessage, { type: 'deliver' }>;
type Accepted = Extract<RelayMessage, { type: 'accepted' }>;
type Keys = Extract<RelayMessage, { type: 'keys' }>;
type TrustDocs = Extract<RelayMessage, { type: 'trust' }>;
type RecipientKeyOf = { kid: string; prekey: NonNullable<DirectoryEntry['prekey']> };
type RelayEventMessage = Extract<RelayMessage, { type: 'event' }>;
type ChainAnswer = Extract<RelayMessage, { type: 'chain' }>;
/** A relay that accepted an envelope, and its receipt. */
type Acceptance = { readonly conn: RelayConnection; readonly receipt: RelayReceipt };
/** A relay that refused an envelope as not continuing the chain, with the head it holds. */
type ChainRefusal = { readonly conn: RelayConnection; readonly head: ChainPosition };
/** The most links one chain.get may ask for. */
const CHAIN_PAGE = 256;
/** Least time between two witness statements handed to one relay (it takes at most 5 a second per connection). */
const WITNESS_GAP_MS = 250;
export type DrillStatus = Extract<RelayMessage, { type: 'drill.status' }>;

export interface AckInfo {
  readonly id: string;
  readonly noticeId: string;
  readonly by: string;
  readonly byName: string | null;
  readonly byState: string;
  readonly note: string | null;
  readonly ackedAt: number | null;
  readonly timeToAckMs: number | null;
  readonly ackDeadline: number | null;
  readonly late: boolean | null;
  readonly drill: DrillMark | null;
}

export interface ReceiptInfo {
  readonly id: string;
  readonly noticeId: string;
  readonly by: string;
  readonly byName: string | null;
  readonly byState: string;
  readonly deliveredAt: number | null;
}

export interface EscalationInfo {
  readonly kind: string;
  readonly auditSeq: number;
  readonly at: number;
  readonly data: Record<string, unknown>;
  readonly relay: string;
}

export interface HotlineClientEvents {
  /** A notice, reply, raise or check, decrypted and recorded for the first time. */
  notice: [MessageRecord];
  receipt: [ReceiptInfo];
  ack: [AckInfo];
  /** Relay-side happenings: overdue, escalation steps, check and drill events. */
  relayEvent: [EscalationInfo];
  connection: [{ relay: string; up: boolean; willRetry: boolean }];
  warning: [{ message: string; code: string }];
  /**
   * Something the relay, or someone on its path, did that the signed rosters and charter do not allow: a forged or
   * look-alike sender, a split view, a deadline the charter does not give, a drill touching a real thread. The
   * envelope concerned is not shown as genuine; a person should call the other side out of band.
   */
  alarm: [{ code: string; message: string; id: string | null; relay: string | null }];
}

export interface SendInput {
  readonly toState: string;
  readonly level: Level | null;
  readonly subject?: string | null;
  readonly text: string;
  readonly drill?: DrillMark | null;
  readonly kind?: EnvelopeHeader['kind'];
  readonly refs?: readonly string[];
  /** Drill directors only: the party this drill envelope is sent as (the director plays the counterpart). */
  readonly asState?: string;
  /** TLP 2.0 label; the channel's default (its bound catalogue's defaultTlp, else TLP:AMBER) when absent. */
  readonly tlp?: Tlp;
  /** A template notice: checked against the catalogue the channel's charter binds (client/templates/template-send.ts). */
  readonly template?: { readonly id: string; readonly fields: Readonly<Record<string, string>> };
}

export interface SendResult {
  readonly id: string;
  readonly channel: string;
  readonly acceptedAt: number;
  readonly ackDeadline: number | null;
  /** One per relay that accepted it. */
  readonly receipts: readonly RelayReceipt[];
  readonly failed: readonly { relay: string; code: string; message: string }[];
  readonly recipients: number;
  /** Who it was encrypted to: exactly the roster members (name and state from the signed rosters). */
  readonly recipientList: readonly { kid: string; name: string; state: string }[];
}

export interface HotlineClientOptions {
  readonly keystore: Keystore;
  readonly profile: Profile;
  readonly relays: readonly string[];
  /** Keep reconnecting with backoff (listen); false for one-shot commands. */
  readonly reconnect: boolean;
  readonly now?: () => number;
  /** How long a link of a sender's chain may stay missing (later links arrived) before it is alarmed as MISSING. Default 60 s. */
  readonly chainGraceMs?: number;
  /** How often, while connected, the highest audit head seen from each relay is witnessed (when it changed). Default 5 min. */
  readonly witnessEveryMs?: number;
  /** How wss:// relays' certificates are verified: `ca` for a relay whose certificate comes from a private CA. */
  readonly tls?: RelayTlsOptions;
}

/** A link a relay proved in a chain answer, with the whole envelope when this PoC is a recipient. */
interface VerifiedChainItem {
  readonly link: ChainLink;
  readonly id: string;
  readonly envelope: Envelope | null;
  readonly receipt: RelayReceipt;
}

interface SubmitOutcome {
  readonly receipts: RelayReceipt[];
  readonly failed: { relay: string; code: string; message: string }[];
  readonly accepted: Acceptance[];
  readonly broken: ChainRefusal[];
}

/** The relay's chain head from a CHAIN_BROKEN refusal (null for any other error, or a detail that does not parse). */
function chainHeadOf(error: HotlineError): ChainPosition | null {
  if (error.code !== 'CHAIN_BROKEN') return null;
  const { chanSeq, hash } = error.detail;
  return typeof chanSeq === 'number' && Number.isInteger(chanSeq) && chanSeq >= 0 && typeof hash === 'string' ? { chanSeq, hash } : null;
}

/** A changed key for a known PoC: sending to its state is blocked until a person trusts the new key. */
export class KeyChangedError extends HotlineError {
  constructor(readonly changed: readonly ContactRecord[]) {
    const first = changed[0];
    super(
      'KEY_CHANGED',
      first
        ? `the key of ${first.name} (${first.state}) has changed: new key ${first.kid} with fingerprint ${fingerprint(first.kid)}. ` +
            `Call them on a known number, compare the fingerprint, then run: hotline trust ${first.kid} "${fingerprint(first.kid)}"`
        : 'a pinned contact key has changed',
      { detail: { kids: changed.map((c) => c.kid) } },
    );
  }
}


/** What the local history keeps of an envelope: its header, its decrypted content and the relay's receipt. */
function messageRecordOf(h: EnvelopeHeader, content: Content, receipt: RelayReceipt, direction: 'in' | 'out'): Omit<MessageRecord, 'recordedAt'> {
  return {
    id: h.id,
    direction,
    kind: h.kind,
    channel: h.channel,
    from: h.from,
    fromState: h.fromState,
    toState: h.toState,
    level: h.level,
    drill: h.drill,
    seq: h.seq,
    createdAt: h.createdAt,
    acceptedAt: receipt.acceptedAt,
    ackDeadline: receipt.ackDeadline,
    refs: h.refs,
    subject: content.subject,
    text: content.text,
    tlp: content.tlp ?? null,
    template: content.template ?? null,
    receipt,
  };
}

export class HotlineClient extends EventEmitter<HotlineClientEvents> {
  readonly history: HistoryStore;
  /** Rosters and charters this PoC verified against its pinned authority. */
  readonly trustStore: TrustStore;
  /** Sends on a channel exclusive across the processes sharing this home (listen and one-shot commands). */
  private readonly homeChainLock: ChainLock;
  private readonly connections: RelayConnection[];
  private readonly now: () => number;
  private confirmQueue = new Map<RelayConnection, string[]>();
  private confirmScheduled = false;
  private processedSinceWelcome = new Map<RelayConnection, number>();
  /** The relay's clock minus this PoC's, measured at the last welcome (0 until one came). */
  private relayClockOffset = 0;
  private closed = false;
  private readonly chainGraceMs: number;
  private readonly witnessEveryMs: number;
  private graceTimer: NodeJS.Timeout | null = null;
  private graceDue = Infinity;
  private witnessTimer: NodeJS.Timeout | null = null;
  /** Per channel: the send in progress, so that chanSeq is taken and submitted one send at a time. */
  private readonly chainLocks = new Map<string, Promise<unknown>>();
  /** Per relay connection and "channel sender": the highest chanSeq it delivered (since its last welcome). */
  private readonly deliveredHigh = new Map<RelayConnection, Map<string, number>>();
  /** Per relay connection: the highest audit position seen (receipts, signed events), and the last one witnessed. */
  private readonly auditSeen = new Map<RelayConnection, { seq: number; hash: string }>();
  private readonly auditWitnessed = new Map<RelayConnection, number>();
  /** Per relay connection: the newest statement waiting to be handed over, and whether a hand-over is under way. */
  private readonly witnessOut = new Map<RelayConnection, { next: WitnessStatement | null; busy: boolean; lastAt: number }>();

  constructor(private readonly options: HotlineClientOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.chainGraceMs = options.chainGraceMs ?? 60_000;
    this.witnessEveryMs = options.witnessEveryMs ?? 5 * 60_000;
    this.history = new HistoryStore(join(options.keystore.home, 'history.db'), { contentKey: options.keystore.historyKey() });
    this.trustStore = new TrustStore(this.history.db);
    this.homeChainLock = new ChainLock(join(options.keystore.home, 'locks'));
    const pinned = new Map(options.profile.relays.map((r) => [r.url, r.kid]));
    this.connections = options.relays.map((url) => {
      const conn = new RelayConnection({
        url,
        identity: options.keystore.identity,
        relayKid: pinned.get(url) ?? null,
        reconnect: options.reconnect,
        ...(options.tls ? { tls: options.tls } : {}),
      });
      conn.on('welcome', (welcome) => {
        this.relayClockOffset = welcome.serverTime - this.now();
        this.processedSinceWelcome.set(conn, 0);
        // Pending envelopes come again after a reconnect, in order from the start: the order check starts afresh.
        this.deliveredHigh.delete(conn);
        this.startWitnessing();
        if (this.history.missingLinks().some((m) => m.alarmedAt === null)) this.scheduleGraceCheck(this.chainGraceMs);
        this.emit('connection', { relay: url, up: true, willRetry: false });
        this.publishPrekey(conn).catch((e: unknown) => this.warn(toHotlineError(e)));
        this.refreshTrustFrom(conn).catch((e: unknown) => this.warn(toHotlineError(e)));
      });
      conn.on('deliver', (m) => this.onDeliver(conn, m));
      conn.on('event', (m) => this.onRelayEvent(conn, m));
      conn.on('down', ({ willRetry }) => this.emit('connection', { relay: url, up: false, willRetry }));
      conn.on('refused', (e) => this.warn(e));
      return conn;
    });
  }

  get identity() {
    return this.options.keystore.identity;
  }

  get profile(): Profile {
    return this.options.profile;
  }

  /** True while at least one relay connection is welcomed and open (a send can go out now). */
  get connected(): boolean {
    return this.ready().length > 0;
  }

  /** Channels this identity's state is party to (from the first relay that welcomed us). */
  get channels(): readonly ChannelInfo[] {
    return this.connections.find((c) => c.session)?.session?.channels ?? [];
  }

  /** Connects to every relay; resolves when at least one is up, rejects with the first relay's error when none is. */
  async connect(): Promise<void> {
    const results = await Promise.allSettled(this.connections.map((c) => c.open()));
    if (!results.some((r) => r.status === 'fulfilled')) {
      const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      throw toHotlineError(first?.reason ?? new HotlineError('RELAY_UNREACHABLE'));
    }
    for (const r of results) if (r.status === 'rejected') this.warn(toHotlineError(r.reason));
  }

  /** Waits until each connected relay has handed over what was pending at welcome (or `timeoutMs` passes). */
  async drain(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const behind = this.connections.some((c) => c.ready && (this.processedSinceWelcome.get(c) ?? 0) < (c.session?.pending ?? 0));
      if (!behind) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.receiving;
    this.flushConfirms();
    await new Promise((r) => setTimeout(r, 50));
  }

  /** Waits for deliveries being processed (and their automatic receipts) to finish. */
  async settle(): Promise<void> {
    await this.receiving;
    await Promise.allSettled([...this.outgoing]);
  }

  close(): void {
    this.closed = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    if (this.witnessTimer) clearInterval(this.witnessTimer);
    this.flushConfirms();
    for (const c of this.connections) c.close();
    this.homeChainLock.close();
    this.history.close();
  }

  private warn(error: HotlineError): void {
    this.emit('warning', { message: error.message, code: error.code });
  }

  private ready(): RelayConnection[] {
    return this.connections.filter((c) => c.ready);
  }

  /**
   * The time at which prekey validity windows are judged: the relay's clock (authoritative, and the one the relay
   * checks prekeys against) when this PoC's clock lags behind it, else this PoC's own. Judged on a clock 5 min slow,
   * every prekey younger than 5 min looked "not yet valid": sending to a PoC that had just joined or rotated failed
   * with PREKEY_EXPIRED. Envelope createdAt stays on this PoC's own clock, so the skew remains on record.
   */
  private prekeyClock(): number {
    return this.now() + Math.max(0, this.relayClockOffset);
  }

  private async publishPrekey(conn: RelayConnection): Promise<void> {
    const ks = this.options.keystore;
    ks.rotatePrekeyIfDue(this.prekeyClock());
    await conn.request({ type: 'prekey.publish', prekey: ks.currentPrekey(this.prekeyClock()) });
  }

  // ---- directory and trust ----

  /** The keys of `states` from a relay, with trust on first use applied (new PoCs pinned, changed keys flagged). */
  async directory(states: readonly string[]): Promise<DirectoryEntry[]> {
    const conn = this.ready()[0];
    if (!conn) throw new HotlineError('RELAY_UNREACHABLE', 'not connected to any relay');
    const keys = await conn.request<Keys>({ type: 'keys.get', states });
    this.pin(keys.entries);
    return keys.entries;
  }

  private pin(entries: readonly DirectoryEntry[]): void {
    const now = this.now();
    this.history.transaction(() => {
      for (const e of entries) {
        if (e.kid === this.identity.kid || this.history.contact(e.kid)) continue;
        const sameName = this.history.contactsByName(e.state, e.name).filter((c) => c.kid !== e.kid);
        const replaced = sameName.at(-1) ?? null;
        this.history.addContact({
          kid: e.kid,
          state: e.state,
          name: e.name,
          role: e.role,
          firstSeen: now,
          status: replaced ? 'changed' : 'pinned',
          replaces: replaced?.kid ?? null,
        });
      }
    });
  }

  // ---- rosters and charter ----

  /**
   * Tells the user, and keeps it in the history (once per `key`, by default code, envelope and message) so that
   * `hotline inbox` still shows it after this session.
   */
  private alarm(code: string, message: string, id: string | null = null, relay: string | null = null, kept: { channel?: string | null; key?: string } = {}): void {
    if (!this.closed) {
      try {
        this.history.addAlarm({ code, message, id, relay, channel: kept.channel ?? null, at: this.now() }, kept.key ?? `${code}|${id ?? ''}|${message}`);
      } catch (e) {
        this.warn(toHotlineError(e));
      }
    }
    this.emit('alarm', { code, message, id, relay });
  }

  /** What this identity trusts to begin with: its state, and its state authority's fingerprint (pinned at join). */
  private get anchor() {
    return { state: this.options.profile.role === 'director' ? null : this.options.profile.state, authorityFingerprint: this.options.profile.authority?.fingerprint ?? null };
  }

  /** Fetches the rosters and charters from one relay, verifies them and keeps what is new; alarms on what does not check out. */
  private async refreshTrustFrom(conn: RelayConnection): Promise<void> {
    const docs = await conn.request<TrustDocs>({ type: 'trust.get' });
    const result = this.history.transaction(() => ingestTrustDocuments(this.trustStore, this.anchor, conn.url, docs, this.now()));
    for (const a of result.alarms) this.alarm(a.code, a.message, null, conn.url);
  }

  /** Refreshes trust documents from every connected relay. */
  async refreshTrust(): Promise<void> {
    await Promise.allSettled(this.ready().map((c) => this.refreshTrustFrom(c)));
  }

  /** The newest verified charter and rosters of a channel: NO_CHARTER or NOT_IN_ROSTER when they are not all here. */
  currentTrust(channel: ChannelInfo): { charter: SignedCharter; rosters: Record<string, SignedRoster>; refs: TrustRefs } {
    const charter = this.trustStore.latestCharter(channel.id);
    if (!charter) {
      throw new HotlineError(
        'NO_CHARTER',
        this.options.profile.authority || this.options.profile.role === 'director'
          ? `no charter of ${channel.id} signed by both state authorities has reached this PoC: the authorities must sign and publish one`
          : `no state authority is pinned here, so no charter can be trusted: run \`hotline join INVITE --authority FINGERPRINT\` with the fingerprint your authority gave you`,
      );
    }
    const rosters: Record<string, SignedRoster> = {};
    for (const state of channel.states) {
      const roster = this.trustStore.latestRoster(state);
      if (!roster) throw new HotlineError('NOT_IN_ROSTER', `${state} has no signed roster yet: its authority adds its PoCs with \`hotline roster add\``);
      rosters[state] = roster;
    }
    const refs: TrustRefs = {
      charter: { version: charter.charter.version, hash: charterHash(charter.charter) },
      rosters: Object.fromEntries(Object.entries(rosters).map(([state, r]) => [state, { version: r.roster.version, hash: rosterHash(r.roster) }])),
    };
    return { charter, rosters, refs };
  }

  /**
   * Exactly the roster members who must receive an envelope on this channel, each with a usable prekey from the relay's
   * directory. A roster member the directory lacks (or has revoked, or without a valid prekey) is an error naming them:
   * never a silent omission. Directory entries that are in no roster are ignored, whatever their name.
   */
  private rosterRecipients(members: readonly RosterMember[], memberState: ReadonlyMap<string, string>, entries: readonly DirectoryEntry[]): { kid: string; prekey: NonNullable<DirectoryEntry['prekey']> }[] {
    const byKid = new Map(entries.map((e) => [e.kid, e]));
    const out: { kid: string; prekey: NonNullable<DirectoryEntry['prekey']> }[] = [];
    const missing: string[] = [];
    for (const m of members) {
      if (m.kid === this.identity.kid) continue;
      const e = byKid.get(m.kid);
      const state = memberState.get(m.kid) ?? '?';
      if (!e || e.state !== state) missing.push(`${m.name} (${state}, ${m.kid.slice(0, 8)}…): not enrolled on this relay`);
      else if (e.revoked) missing.push(`${m.name} (${state}): revoked on this relay`);
      else if (e.prekey === null || e.prekey.notAfter <= this.prekeyClock()) missing.push(`${m.name} (${state}): no current encryption key published yet (must come online once)`);
      else out.push({ kid: m.kid, prekey: e.prekey });
    }
    if (missing.length) {
      throw new HotlineError('MEMBER_UNREACHABLE', `not sent: ${missing.length} roster member(s) cannot be reached: ${missing.join('; ')}`, { detail: { missing } });
    }
    return out;
  }

  /** Marks a contact verified after a person compared its fingerprint out of band. */
  trust(kid: string, typedFingerprint: string): ContactRecord {
    return trustContact(this.history, kid, typedFingerprint, this.now());
  }

  // ---- sending ----

  private channelTo(toState: string, own: string | null = this.options.profile.state): ChannelInfo {
    const channel = this.channels.find((c) => c.states.includes(toState) && own !== null && c.states.includes(own));
    if (!channel) {
      const known = this.channels.flatMap((c) => c.states).filter((s) => s !== own);
      throw new HotlineError(
        'UNKNOWN_STATE',
        `no channel between ${own ?? '(not joined)'} and ${toState} on this relay${known.length ? `; channels reach: ${known.join(', ')}` : ''}`,
      );
    }
    return channel;
  }

  /** Signs, encrypts and sends an envelope to every relay; resolves once at least one has durably accepted it. */
  async send(input: SendInput): Promise<SendResult> {
    const director = this.options.profile.role === 'director';
    if (input.asState !== undefined && !director) throw new HotlineError('FORBIDDEN', 'only a drill director sends as another state');
    if (director && (input.asState === undefined || !input.drill)) throw new HotlineError('WRONG_ROLE', 'a drill director sends drill injects only, as a participant state');
    const own = input.asState ?? this.options.profile.state;
    if (!own) throw new HotlineError('NO_IDENTITY', 'this identity has not joined a relay yet: run `hotline join INVITE`');
    if (this.ready().length === 0) throw new HotlineError('RELAY_UNREACHABLE', 'not connected to any relay');
    const kind = input.kind ?? 'notice';
    if ((kind === 'notice' || kind === 'reply' || kind === 'raise') && input.text.trim().length === 0 && !input.template) {
      throw new HotlineError('BAD_INPUT', 'the notice text is empty: write what happened');
    }
    const channel = this.channelTo(input.toState, own);
    let plan = await this.planRecipients(channel, own, input.toState, kind, director);
    const id = uuidv7(this.now());
    const content = templateContent(plan.trust.charter.charter.templates, input);
    // One send at a time per channel: chanSeq and prev are taken from the head, and the head moves only on acceptance.
    return this.withChainLock(channel.id, async () => {
      let lastError: HotlineError | null = null;
      let adopted = false;
      for (let attempt = 0; attempt < 4; attempt++) {
        const head = this.history.ownChainHead(channel.id);
        const chanSeq = (head?.chanSeq ?? 0) + 1;
        const createdAt = this.now();
        // One commit (one fsync of history.db) for the seq taken and the envelope kept: kept before it goes out, so that
        // if the answer is lost, the relay's head names this hash and it is recognised as ours.
        const { envelope, hash } = this.history.transaction(() => {
          const built = buildEnvelope({
            sender: this.identity,
            header: {
              id,
              channel: channel.id,
              kind,
              fromState: own,
              toState: input.toState,
              level: input.level,
              drill: input.drill ?? null,
              seq: this.history.nextSeq(),
              createdAt,
              refs: [...(input.refs ?? [])],
              trust: plan.trust.refs,
              chanSeq,
              prev: head?.hash ?? CHAIN_GENESIS,
            },
            content,
            recipients: plan.recipients,
            now: this.prekeyClock(),
            requireHybrid: plan.trust.charter.charter.hybridWrap === 'required',
          });
          const digest = envelopeDigest(built).hash;
          this.history.keepOwnEnvelope(channel.id, chanSeq, digest, JSON.stringify(built), this.now());
          return { envelope: built, hash: digest };
        });
        const tolerance = plan.trust.charter.charter.timeTolerance;
        const outcome = await this.submit(envelope, hash, tolerance);
        // A relay that missed earlier envelopes of this chain (it was down when they went out) gets them again, then this one.
        await this.repairRelayChains(envelope, hash, tolerance, outcome);
        if (outcome.receipts.length > 0) {
          const first = outcome.receipts[0] as RelayReceipt;
          // The deadline is the charter's (or the drill's, signed in the header): a relay that states another is alarmed.
          const charter = plan.trust.charter.charter;
          const deadline = expectedAckDeadline(charter, envelope.header, first.acceptedAt);
          // Each relay times its own acceptance: its deadline is judged from its own acceptedAt.
          for (const r of outcome.receipts) this.checkStatedDeadline(envelope.header, r, expectedAckDeadline(charter, envelope.header, r.acceptedAt), null);
          this.history.transaction(() => {
            this.history.markOwnEnvelopeAccepted(hash);
            this.history.setOwnChainHead(channel.id, { chanSeq, hash });
            this.history.record({ ...messageRecordOf(envelope.header, content, first, 'out'), ackDeadline: deadline }, this.now());
          });
          for (const refusal of outcome.broken) this.alarmChainRefusal(refusal, channel.id, { chanSeq, hash }, false);
          // An acknowledgement is a moment worth witnessing: the relay's chain as it stood right after it.
          if (kind === 'ack') for (const a of outcome.accepted) if (a.receipt.auditHash) this.track(this.witness(a.conn, a.receipt.auditSeq, a.receipt.auditHash));
          return {
            id,
            channel: channel.id,
            acceptedAt: first.acceptedAt,
            ackDeadline: deadline,
            receipts: outcome.receipts,
            failed: outcome.failed,
            recipients: plan.recipients.length,
            recipientList: plan.recipientList,
          };
        }
        // A roster or charter changed meanwhile: fetch it, choose the recipients again, and build the envelope anew.
        const staleTrust = outcome.failed.find((f) => f.code === 'TRUST_STALE');
        if (staleTrust) {
          lastError = new HotlineError('TRUST_STALE', `${staleTrust.relay}: ${staleTrust.message} (refreshed the rosters and charter and built it again ${attempt + 1} time(s))`);
          plan = await this.planRecipients(channel, own, input.toState, kind, director, true);
          continue;
        }
        if (outcome.broken.length > 0) {
          const resync = adopted ? null : await this.adoptableHead(channel.id, head, outcome.broken);
          if (resync) {
            // The relay holds a head this PoC may continue from (its own lost answer, or a fresh HOTLINE_HOME): rebuild on it.
            this.history.setOwnChainHead(channel.id, resync);
            adopted = true;
            continue;
          }
          for (const refusal of outcome.broken) this.alarmChainRefusal(refusal, channel.id, head, true);
          throw new HotlineError(
            'CHAIN_BROKEN',
            `not sent: ${outcome.broken.map((b) => `${b.conn.url} holds this PoC's chain on ${channel.id} at envelope ${b.head.chanSeq}`).join('; ')}, ` +
              `but this PoC's history is at ${head?.chanSeq ?? 0} and does not hold what the relay names. Another device may be sending with this key, ` +
              `or the relay's records differ: call your authority before sending again`,
            { detail: { channel: channel.id, own: head?.chanSeq ?? 0, relays: outcome.broken.map((b) => ({ relay: b.conn.url, ...b.head })) } },
          );
        }
        const stale = outcome.failed.find((f) => f.code === 'SEQ_NOT_INCREASING');
        lastError = new HotlineError(
          (outcome.failed[0]?.code as HotlineError['code'] | undefined) ?? 'RELAY_UNREACHABLE',
          outcome.failed.map((f) => `${f.relay}: ${f.message}`).join('; ') || 'no relay accepted the envelope',
        );
        if (!stale) break;
        const m = /last accepted (\d+)/.exec(stale.message);
        if (m) this.history.bumpSeq(Number(m[1]));
      }
      throw lastError ?? new HotlineError('RELAY_UNREACHABLE');
    });
  }

  /** Runs `fn` after every earlier send on `channel` has settled. */
  private withChainLock<T>(channel: string, fn: () => Promise<T>): Promise<T> {
    const before = this.chainLocks.get(channel) ?? Promise.resolve();
    // In this process one send at a time per channel (the promise chain); across the processes of this home, the file lock.
    const exclusive = () => this.homeChainLock.with(channel, fn);
    const run = before.then(exclusive, exclusive);
    const tail = run.catch(() => undefined);
    this.chainLocks.set(channel, tail);
    void tail.then(() => {
      if (this.chainLocks.get(channel) === tail) this.chainLocks.delete(channel);
    });
    return run;
  }

  /**
   * For each relay that refused with CHAIN_BROKEN while holding an earlier link of this chain: resends the own envelopes
   * it lacks, in order, then this one; its receipt joins the others. A relay whose head this PoC cannot continue stays refused.
   */
  private async repairRelayChains(envelope: Envelope, hash: string, tolerance: number, outcome: SubmitOutcome): Promise<void> {
    const h = envelope.header;
    const chanSeq = h.chanSeq ?? 0;
    for (const refusal of [...outcome.broken]) {
      const { conn, head } = refusal;
      if (head.chanSeq >= chanSeq - 1) continue;
      const base = head.chanSeq === 0 ? { hash: CHAIN_GENESIS } : this.history.ownEnvelopeAt(h.channel, head.chanSeq);
      if (!base || base.hash !== head.hash) continue;
      const resend: string[] = [];
      for (let n = head.chanSeq + 1; n < chanSeq; n++) {
        const held = this.history.ownEnvelopeAt(h.channel, n);
        if (!held) break;
        resend.push(held.envelopeJson);
      }
      if (resend.length !== chanSeq - 1 - head.chanSeq) continue;
      try {
        for (const json of resend) {
          const earlier = parseEnvelope(JSON.parse(json));
          await this.submitTo(conn, earlier, envelopeDigest(earlier).hash, tolerance);
        }
        const receipt = await this.submitTo(conn, envelope, hash, tolerance);
        outcome.receipts.push(receipt);
        outcome.accepted.push({ conn, receipt });
        outcome.broken.splice(outcome.broken.indexOf(refusal), 1);
        const i = outcome.failed.findIndex((f) => f.relay === conn.url);
        if (i >= 0) outcome.failed.splice(i, 1);
      } catch (e) {
        const err = toHotlineError(e);
        this.warn(new HotlineError(err.code, `${conn.url} lacks envelopes ${head.chanSeq + 1}..${chanSeq - 1} of this PoC's chain on ${h.channel}; resending them failed: ${err.message}`));
      }
    }
  }

  /**
   * The head to continue from when every relay refused the chain: one a relay holds that is an envelope this PoC built
   * (the relay accepted it but the answer was lost), or, when this history holds no chain on the channel at all (a fresh
   * HOTLINE_HOME), the relay's. Null: this PoC cannot tell the relay's head from someone else's.
   */
  private async adoptableHead(channel: string, own: ChainPosition | null, broken: readonly ChainRefusal[]): Promise<ChainPosition | null> {
    for (const { head } of broken) {
      if (head.chanSeq <= (own?.chanSeq ?? 0)) continue;
      const built = this.history.ownEnvelopeByHash(head.hash);
      if (built && built.channel === channel && built.chanSeq === head.chanSeq) {
        this.history.markOwnEnvelopeAccepted(head.hash);
        return head;
      }
    }
    if (own !== null) return null;
    // A fresh HOTLINE_HOME: the head a relay names (in an unsigned error frame) is taken only once the relay shows the
    // envelope under it, signed by this very key, with its own signed receipt; a forged head would chain every later
    // send to a prev no honest relay holds.
    for (const { conn, head } of [...broken].sort((a, b) => b.head.chanSeq - a.head.chanSeq)) {
      if (head.chanSeq <= 0) continue;
      const shown = await this.chainItemsFrom(conn, channel, this.identity.kid, head.chanSeq, head.chanSeq).catch(() => []);
      if (shown.some((item) => item.link.chanSeq === head.chanSeq && item.link.hash === head.hash)) return head;
    }
    return null;
  }

  private alarmChainRefusal(refusal: ChainRefusal, channel: string, own: ChainPosition | null, failed: boolean): void {
    this.alarm(
      'CHAIN_BROKEN',
      `relay ${refusal.conn.url} holds this PoC's chain on ${channel} at envelope ${refusal.head.chanSeq} (hash ${refusal.head.hash.slice(0, 8)}…), ` +
        `which this PoC's history (at ${own?.chanSeq ?? 0}) does not hold: another device may be sending with this key, or the relay's records differ` +
        (failed ? ' — the envelope was not sent' : ' — the other relay(s) accepted the envelope'),
      null,
      refusal.conn.url,
      { channel },
    );
  }

  /**
   * Who an envelope goes to, decided from the rosters and charter held. They are fetched at welcome, when none is held,
   * and again when they do not allow the send (a member unreachable or missing may have been removed or added since)
   * or the relay answers TRUST_STALE: then the plan is made once more. Not before every send: that was a third frame
   * per notice, and a burst of them ran into the relay's per-connection rate limit.
   * Throws NOT_IN_ROSTER when this key has no standing, MEMBER_UNREACHABLE when a roster member has no usable key.
   */
  private async planRecipients(
    channel: ChannelInfo,
    own: string,
    toState: string,
    kind: EnvelopeHeader['kind'],
    director: boolean,
    refresh = false,
  ): Promise<{ trust: ReturnType<HotlineClient['currentTrust']>; recipients: RecipientKeyOf[]; recipientList: SendResult['recipientList'] }> {
    const targetStates = director ? [toState] : [...channel.states];
    const held = !refresh && this.trustStore.latestCharter(channel.id) !== null && channel.states.every((st) => this.trustStore.latestRoster(st) !== null);
    if (!held) await this.refreshTrust();
    try {
      return this.planFrom(channel, own, toState, kind, director, targetStates, await this.directory(targetStates));
    } catch (cause) {
      const code = toHotlineError(cause).code;
      if (!held || !['NOT_IN_ROSTER', 'MEMBER_UNREACHABLE', 'NO_CHARTER'].includes(code)) throw cause;
      return this.planRecipients(channel, own, toState, kind, director, true);
    }
  }

  private planFrom(
    channel: ChannelInfo,
    own: string,
    toState: string,
    kind: EnvelopeHeader['kind'],
    director: boolean,
    targetStates: readonly string[],
    entries: readonly DirectoryEntry[],
  ): { trust: ReturnType<HotlineClient['currentTrust']>; recipients: RecipientKeyOf[]; recipientList: SendResult['recipientList'] } {
    const trust = this.currentTrust(channel);
    if (director) {
      if (!trust.charter.charter.directors.includes(this.identity.kid)) throw new HotlineError('NOT_IN_ROSTER', `the charter of ${channel.id} does not name this key as a drill director`);
    } else {
      const ownRoster = trust.rosters[own];
      const me = ownRoster ? rosterMember(ownRoster.roster, this.identity.kid) : null;
      if (!me || !watchRoles.has(me.role)) {
        throw new HotlineError('NOT_IN_ROSTER', `this key is not a PoC in ${own}'s signed roster: give your authority \`${this.identity.kid}\` and fingerprint ${fingerprint(this.identity.kid)} for \`hotline roster add\``);
      }
    }
    // A director's inject goes to the participant state it targets only: the state it plays does not receive it.
    const members = watchMembers({ rosters: Object.fromEntries(Object.entries(trust.rosters).map(([st, r]) => [st, r.roster])) }, targetStates);
    const memberState = new Map(targetStates.flatMap((st) => (trust.rosters[st]?.roster.members ?? []).map((m) => [m.kid, st] as const)));
    if ((kind === 'notice' || kind === 'raise' || kind === 'reply') && !members.some((m) => memberState.get(m.kid) === toState)) {
      throw new HotlineError('NOT_IN_ROSTER', `${toState}'s signed roster lists no PoC or alternate yet`);
    }
    const recipients = this.rosterRecipients(members, memberState, entries);
    const recipientList = recipients.map((r) => ({ kid: r.kid, name: members.find((m) => m.kid === r.kid)?.name ?? '?', state: memberState.get(r.kid) ?? '?' }));
    return { trust, recipients, recipientList };
  }

  /** Alarms when a relay's receipt states another acknowledgement deadline than the charter gives. */
  private checkStatedDeadline(h: EnvelopeHeader, receipt: RelayReceipt, expected: number | null, relay: string | null): void {
    if (receipt.ackDeadline === expected) return;
    const show = (t: number | null) => (t === null ? 'none' : new Date(t).toISOString());
    this.alarm(
      'DEADLINE_MISMATCH',
      `relay ${receipt.relay.slice(0, 8)}… stated the acknowledgement deadline of ${h.kind} ${h.id} as ${show(receipt.ackDeadline)}; the charter gives ${show(expected)}, which is what counts`,
      h.id,
      relay,
    );
  }

  /**
   * Sends to every connected relay. Each receipt is checked: signed by the pinned relay, for this envelope (id and
   * hash), and timed between the moment the send started and the moment the answer came (within `toleranceMs`).
   * A receipt for something else is no proof of acceptance; a re-timed one is kept as evidence and alarmed.
   */
  private async submit(envelope: Envelope, hash: string, toleranceMs: number): Promise<SubmitOutcome> {
    const ready = this.ready();
    const results = await Promise.allSettled(ready.map((c) => this.submitTo(c, envelope, hash, toleranceMs)));
    const outcome: SubmitOutcome = { receipts: [], failed: [], accepted: [], broken: [] };
    results.forEach((r, i) => {
      const conn = ready[i] as RelayConnection;
      if (r.status === 'fulfilled') {
        outcome.receipts.push(r.value);
        outcome.accepted.push({ conn, receipt: r.value });
        return;
      }
      const err = toHotlineError(r.reason);
      outcome.failed.push({ relay: conn.url, code: err.code, message: err.message });
      const head = chainHeadOf(err);
      if (head) outcome.broken.push({ conn, head });
    });
    return outcome;
  }

  /** One relay's acceptance of `envelope`, its receipt checked (see submit). */
  private async submitTo(conn: RelayConnection, envelope: Envelope, hash: string, toleranceMs: number): Promise<RelayReceipt> {
    const sentAt = this.now();
    const answer = await conn.request<Accepted>({ type: 'send', envelope });
    const receivedAt = this.now();
    const receipt = answer.receipt;
    verifyReceipt(receipt, conn.relayKid ?? undefined);
    const h = envelope.header;
    if (receipt.id !== h.id || receipt.hash !== hash) {
      const problem = receipt.id !== h.id ? `the receipt names envelope ${receipt.id}, not ${h.id}` : `the receipt's hash ${receipt.hash.slice(0, 8)}… is not the envelope's ${hash.slice(0, 8)}…`;
      this.keepBadReceipt(conn, h, receipt, problem);
      throw new HotlineError('BAD_RECEIPT', `relay ${conn.url} answered ${h.kind} ${h.id} with a receipt for something else: ${problem}`);
    }
    this.noteAuditHead(conn, receipt.auditSeq, receipt.auditHash);
    const disputed = ownReceiptDispute(h, receipt, sentAt, receivedAt, toleranceMs);
    if (disputed) this.keepDisputedTime(conn, h, receipt, disputed);
    return receipt;
  }

  /** Keeps a receipt that names another envelope, and alarms. */
  private keepBadReceipt(conn: RelayConnection, h: EnvelopeHeader, receipt: RelayReceipt, problem: string): void {
    this.history.addReceiptProblem({ relay: conn.url, envelopeId: h.id, receipt, problem, at: this.now() });
    this.alarm(
      'BAD_RECEIPT',
      `relay ${conn.url} gave a receipt for ${h.kind} ${h.id} that does not match it (${problem}). The receipt is kept as evidence; report it to both authorities`,
      h.id,
      conn.url,
      { channel: h.channel },
    );
  }

  /** Keeps a receipt whose time this client's clock (or the signer's) contradicts, and alarms. */
  private keepDisputedTime(conn: RelayConnection, h: EnvelopeHeader, receipt: RelayReceipt, disputed: DisputedTime): void {
    this.history.addReceiptProblem({ relay: conn.url, envelopeId: h.id, receipt, problem: disputed.message, at: this.now() });
    this.alarm(
      'BAD_RECEIPT',
      `relay ${conn.url} stated a time this client cannot confirm — ${disputed.message}. The message is kept; the receipt is kept as evidence: report it to both authorities`,
      h.id,
      conn.url,
      { channel: h.channel },
    );
  }

  /** Finds a recorded message by id or unique prefix; throws UNKNOWN_ID. */
  findMessage(idOrPrefix: string): MessageRecord {
    const matches = this.history.resolveId(idOrPrefix.trim());
    if (matches.length === 1) return matches[0] as MessageRecord;
    if (matches.length > 1) throw new HotlineError('BAD_INPUT', `"${idOrPrefix}" matches several notices; give more of the id`);
    throw new HotlineError('UNKNOWN_ID', `no notice ${idOrPrefix} in this PoC's history; run \`hotline inbox\` to list them`);
  }

  /** A person's signed acknowledgement of a notice (or raise) from the other state. */
  async ack(idOrPrefix: string, note: string | null = null): Promise<SendResult> {
    const target = this.findMessage(idOrPrefix);
    if (target.fromState === this.options.profile.state) throw new HotlineError('FORBIDDEN', 'only the receiving state acknowledges a notice; this one was sent by your side');
    if (!['notice', 'raise', 'check'].includes(target.kind)) throw new HotlineError('BAD_INPUT', `a ${target.kind} is not acknowledged`);
    return this.send({ toState: target.fromState, level: null, text: note ?? '', kind: 'ack', refs: [target.id], drill: target.drill });
  }

  /** Raises a thread to a higher level: a new, shorter deadline from the raise's acceptance. */
  async raise(idOrPrefix: string, level: Level, text: string): Promise<SendResult> {
    const target = this.findMessage(idOrPrefix);
    const root = target.kind === 'raise' ? this.findMessage(target.refs[0] ?? '') : target;
    if (root.fromState !== this.options.profile.state) throw new HotlineError('FORBIDDEN', 'only the sending state raises its own notice; reply to it instead');
    const current = this.history.referencing(root.id).filter((m) => m.kind === 'raise').reduce((lvl, m) => (m.level && levelRank(m.level) > levelRank(lvl) ? m.level : lvl), root.level ?? 'ROUTINE');
    if (levelRank(level) <= levelRank(current)) throw new HotlineError('BAD_INPUT', `the thread is already ${current}; a raise must go higher`);
    // A drill raise keeps its drill, not the inject's deadline: the raise's level brings its own.
    const drill = root.drill ? { drillId: root.drill.drillId, inject: root.drill.inject } : null;
    return this.send({ toState: root.toState, level, text: text || `Raised to ${level}`, kind: 'raise', refs: [root.id], drill });
  }

  async reply(idOrPrefix: string, text: string, level: Level | null = null): Promise<SendResult> {
    const target = this.findMessage(idOrPrefix);
    const other = target.fromState === this.options.profile.state ? target.toState : target.fromState;
    return this.send({ toState: other, level: level ?? target.level ?? 'ROUTINE', text, kind: 'reply', refs: [target.id], drill: target.drill });
  }

  // ---- receiving ----

  /** Deliveries are processed one at a time, in arrival order, even when a step awaits the relay. */
  private receiving: Promise<void> = Promise.resolve();

  private onDeliver(conn: RelayConnection, msg: Deliver): void {
    this.receiving = this.receiving.then(async () => {
      try {
        if (msg.envelope.header.from !== this.identity.kid && !this.history.contact(msg.envelope.header.from)) {
          // First word from this key: note it among the contacts (names shown come from the signed roster).
          await this.directory([msg.envelope.header.fromState]).catch(() => undefined);
        }
        await this.receive(conn, msg);
      } catch (e) {
        this.warn(toHotlineError(e));
      }
    });
  }

  /** The display name of a key: from the signed rosters, else a contact, or this identity itself. */
  nameOf(kid: string): string | null {
    if (kid === this.identity.kid) return `${this.options.profile.name} (you)`;
    return this.trustStore.memberName(kid) ?? this.history.contact(kid)?.name ?? null;
  }

  /**
   * The charter and rosters an incoming header names, verified here; fetched once more from the relay when this PoC
   * does not hold them yet. Throws NO_CHARTER, TRUST_STALE (still not held), SPLIT_VIEW, TRUST_INVALID.
   */
  private async headerTrust(h: EnvelopeHeader): Promise<HeaderTrust> {
    try {
      return resolveHeaderTrust(this.trustStore.view, h);
    } catch (cause) {
      if (toHotlineError(cause).code !== 'TRUST_STALE') throw cause;
      await this.refreshTrust();
      return resolveHeaderTrust(this.trustStore.view, h);
    }
  }

  /**
   * The standing of an incoming envelope's signer, from the roster version the header names, and not removed by a
   * later version already in force when the relay accepted it. Throws NOT_IN_ROSTER.
   */
  private checkSigner(trust: HeaderTrust, h: EnvelopeHeader, acceptedAt: number): void {
    const standing = senderStanding(trust, h);
    if (standing.as === 'director') return;
    const named = trust.rosters[h.fromState];
    const newest = this.trustStore.latestRoster(h.fromState);
    if (!named || !newest) return;
    for (let v = named.version + 1; v <= newest.roster.version; v++) {
      const later = this.trustStore.roster(h.fromState, v)?.roster;
      if (!later) break;
      const m = rosterMember(later, h.from);
      if ((!m || !watchRoles.has(m.role)) && acceptedAt >= later.issuedAt) {
        throw new HotlineError('NOT_IN_ROSTER', `the signer ${h.from.slice(0, 8)}… of ${h.id} was removed from ${h.fromState}'s roster in v${v}, before the relay accepted it`);
      }
    }
  }

  /** `fetched`: the envelope came in a chain answer this PoC asked for, not in delivery order. */
  private async receive(conn: RelayConnection, msg: Deliver, { fetched = false }: { fetched?: boolean } = {}): Promise<void> {
    const envelope = parseEnvelope(msg.envelope);
    const h = envelope.header;
    if (this.history.has(h.id)) {
      // Held already (another relay, or a chain answer): still a delivery out of order if this relay sent later links first.
      const link = fetched ? null : this.history.chainLinkOf(h.id);
      if (link) this.noteDeliveryOrder(conn, link.channel, link.kid, link.chanSeq, h.id);
      this.confirm(conn, h.id);
      return;
    }
    let trust: HeaderTrust;
    try {
      trust = await this.headerTrust(h);
      this.checkSigner(trust, h, msg.receipt.acceptedAt);
      for (const ref of h.refs) {
        const target = this.history.get(ref);
        if (target) checkDrillRefs(h, target);
      }
      // Only the notified state acknowledges: an "ack" signed by the notice's own side does not close it.
      const acked = h.kind === 'ack' ? this.history.get(h.refs[0] ?? '') : null;
      if (acked && acked.toState !== h.fromState) {
        throw new HotlineError('NOT_IN_ROSTER', `an ack of ${acked.id} must come from the notified state ${acked.toState}, not ${h.fromState}`);
      }
    } catch (cause) {
      const e = toHotlineError(cause);
      // Not shown, not receipted: the signed documents do not let this key say this. Confirmed so it is not redelivered,
      // unless the documents are only missing for now (TRUST_STALE), when a later delivery may check out.
      this.alarm(e.code, `${h.kind} ${h.id} "from ${h.fromState}" refused: ${e.message}`, h.id, conn.url);
      if (e.code !== 'TRUST_STALE') this.confirm(conn, h.id);
      return;
    }
    const ks = this.options.keystore;
    const refuse = (e: HotlineError): void => {
      this.alarm(e.code, `${h.kind} ${h.id} "from ${h.fromState}" refused: ${e.message}`, h.id, conn.url);
      this.confirm(conn, h.id);
    };
    let opened: ReturnType<typeof openEnvelope>;
    try {
      opened = openEnvelope(envelope, { kid: this.identity.kid, prekeySecrets: ks.prekeySecrets(), kemKeys: ks.kemKeys() }, { requireHybrid: trust.charter.hybridWrap === 'required' });
    } catch (cause) {
      const e = toHotlineError(cause);
      if (e.code !== 'HYBRID_REQUIRED') throw e;
      // A downgrade (X25519 alone where the charter or the prekey demands ML-KEM too): not shown, not receipted, kept
      // out of redelivery, and said to the person, like any envelope the signed documents do not allow.
      refuse(e);
      return;
    }
    try {
      // A template must be one of the catalogue this channel's charter binds, with well-typed fields: else it is not shown.
      checkIncomingContent(trust.charter.templates, opened.content);
    } catch (cause) {
      refuse(toHotlineError(cause));
      return;
    }
    verifyReceipt(msg.receipt, conn.relayKid ?? undefined);
    // The envelope is genuine (signed by its sender): a receipt that contradicts it is kept as evidence, not a reason to hide it.
    this.checkDeliveredReceipt(conn, h, msg.receipt, opened.digest.hash, trust.charter.timeTolerance);
    const deadline = expectedAckDeadline(trust.charter, h, msg.receipt.acceptedAt);
    this.checkStatedDeadline(h, msg.receipt, deadline, conn.url);
    const record = { ...messageRecordOf(h, opened.content, msg.receipt, h.from === this.identity.kid ? 'out' : 'in'), ackDeadline: deadline };
    // One commit (one fsync of history.db) for the message and its place in the sender's chain.
    const fresh = this.history.transaction(() => {
      this.history.noteSenderSeq(h.from, h.seq);
      const stored = this.history.record(record, this.now());
      if (stored && h.chanSeq !== undefined && h.prev !== undefined && !fetched) {
        this.noteDeliveryOrder(conn, h.channel, h.from, h.chanSeq, h.id);
        this.onDeliveredLink(conn, h.channel, h.from, { chanSeq: h.chanSeq, prev: h.prev, hash: opened.digest.hash }, h.id);
      }
      return stored;
    });
    this.confirm(conn, h.id);
    if (!fresh) return;
    const full = this.history.get(h.id) as MessageRecord;
    const senderName = this.nameOf(h.from);
    switch (h.kind) {
      case 'notice':
      case 'reply':
      case 'raise':
      case 'check':
        this.emit('notice', full);
        if (h.fromState !== this.options.profile.state) this.sendDeliveryReceipt(full);
        return;
      case 'ack': {
        const noticeId = h.refs[0] ?? '';
        const notice = this.history.get(noticeId);
        const ackedAt = msg.receipt.acceptedAt;
        const timeToAckMs = notice?.acceptedAt != null ? ackedAt - notice.acceptedAt : null;
        this.emit('ack', {
          id: h.id,
          noticeId,
          by: h.from,
          byName: senderName,
          byState: h.fromState,
          note: opened.content.text || null,
          ackedAt,
          timeToAckMs,
          ackDeadline: notice?.ackDeadline ?? null,
          late: notice?.ackDeadline != null ? ackedAt > notice.ackDeadline : null,
          drill: h.drill,
        });
        return;
      }
      case 'receipt':
        this.emit('receipt', { id: h.id, noticeId: h.refs[0] ?? '', by: h.from, byName: senderName, byState: h.fromState, deliveredAt: msg.receipt.acceptedAt });
        return;
    }
  }

  /** The automatic, signed "delivered" receipt for a notice from the other state. */
  private readonly outgoing = new Set<Promise<unknown>>();

  private sendDeliveryReceipt(notice: MessageRecord): void {
    const p = this.send({ toState: notice.fromState, level: null, text: '', kind: 'receipt', refs: [notice.id], drill: notice.drill })
      .catch((e: unknown) => this.warn(toHotlineError(e)))
      .finally(() => this.outgoing.delete(p));
    this.outgoing.add(p);
  }

  private confirm(conn: RelayConnection, id: string): void {
    const queue = this.confirmQueue.get(conn) ?? [];
    queue.push(id);
    this.confirmQueue.set(conn, queue);
    this.processedSinceWelcome.set(conn, (this.processedSinceWelcome.get(conn) ?? 0) + 1);
    if (!this.confirmScheduled) {
      this.confirmScheduled = true;
      setImmediate(() => this.flushConfirms());
    }
  }

  private flushConfirms(): void {
    this.confirmScheduled = false;
    for (const [conn, ids] of this.confirmQueue) {
      for (let i = 0; i < ids.length; i += 512) conn.post({ type: 'confirm', ids: ids.slice(i, i + 512) });
    }
    this.confirmQueue.clear();
  }


  private onRelayEvent(conn: RelayConnection, msg: RelayEventMessage): void {
    // Shown or acted on only when signed by the pinned relay: checked before the dedupe, so a forged event cannot take a
    // genuine one's place.
    try {
      if (!conn.relayKid) throw new HotlineError('BAD_SIGNATURE', 'no relay key is pinned to check it against');
      verifyRelayEvent(msg.event, conn.relayKid);
    } catch (cause) {
      this.alarm(
        'BAD_SIGNATURE',
        `dropped an unsigned/forged relay event "${msg.event.kind}" (audit event ${msg.event.auditSeq}) from ${conn.url}: ${toHotlineError(cause).message}. ` +
          `It is not shown; someone on the path to the relay is injecting or altering events`,
        null,
        conn.url,
      );
      return;
    }
    this.noteAuditHead(conn, msg.event.auditSeq, msg.event.auditHash);
    // Relay events come at least once (again after a reconnect), and a signed one can be replayed on the wire: each is
    // shown once per relay, across restarts (kept in history.db).
    if (!this.history.noteRelayEvent(conn.relayKid, msg.event.auditSeq)) return;
    if (msg.event.kind === 'check') {
      const data = checkEventDataSchema.safeParse(msg.event.data);
      if (data.success && conn.relayKid) {
        // The device's automatic "received": the person still answers with `hotline ack CHECKID`.
        const sig = signStatement(this.identity, 'hotline-check-receipt-v1', { checkId: data.data.checkId, kid: this.identity.kid, relay: conn.relayKid });
        conn.post({ type: 'check.receipt', checkId: data.data.checkId, sig });
      }
    }
    this.emit('relayEvent', { ...msg.event, relay: conn.url });
  }

  // ---- receipts checked against this client's clock ----

  /** A delivered envelope's receipt: for this envelope, and timed no later than now and near its signer's createdAt. */
  private checkDeliveredReceipt(conn: RelayConnection, h: EnvelopeHeader, receipt: RelayReceipt, hash: string, toleranceMs: number): void {
    if (receipt.id !== h.id || receipt.hash !== hash) {
      const problem = receipt.id !== h.id ? `the receipt names envelope ${receipt.id}` : `the receipt's hash ${receipt.hash.slice(0, 8)}… is not the envelope's ${hash.slice(0, 8)}…`;
      this.keepBadReceipt(conn, h, receipt, problem);
      return;
    }
    this.noteAuditHead(conn, receipt.auditSeq, receipt.auditHash);
    const disputed = deliveredReceiptDispute(h, receipt, this.now(), toleranceMs);
    if (disputed) this.keepDisputedTime(conn, h, receipt, disputed);
  }

  // ---- senders' chains: gaps, reorders, forks ----

  /** Queues work behind the deliveries being processed (it may feed envelopes through the delivery path itself). */
  private queueReceiving(work: () => Promise<void>): void {
    this.receiving = this.receiving.then(async () => {
      if (this.closed) return;
      try {
        await work();
      } catch (e) {
        if (!this.closed) this.warn(toHotlineError(e));
      }
    });
  }

  /** "US CN-officer (key abcd1234…)": who a sender is, for a person reading an alarm. */
  private senderLabel(kid: string): string {
    const state = this.history.contact(kid)?.state ?? null;
    const name = this.nameOf(kid);
    return `${name ?? 'a sender'}${state ? ` of ${state}` : ''} (key ${kid.slice(0, 8)}…)`;
  }

  /** A relay delivering a sender's link below one it already delivered on this connection: it held it back or reordered. */
  private noteDeliveryOrder(conn: RelayConnection, channel: string, kid: string, chanSeq: number, id: string): void {
    const byChain = this.deliveredHigh.get(conn) ?? new Map<string, number>();
    this.deliveredHigh.set(conn, byChain);
    const key = `${channel} ${kid}`;
    const high = byChain.get(key) ?? 0;
    if (chanSeq >= high) {
      byChain.set(key, chanSeq);
      return;
    }
    this.alarm(
      'REORDERED',
      `warning: relay ${conn.url} delivered envelope ${chanSeq} from ${this.senderLabel(kid)} on ${channel} after envelope ${high} — ` +
        `it held it back or reordered it. Nothing is lost, but the relay did not deliver in the order it accepted`,
      id,
      conn.url,
      { channel },
    );
  }

  /** Applies one verified link to the kept chain of (channel, sender) and keeps what is missing; alarms a fork. */
  private applyLink(channel: string, kid: string, link: ChainLink, envelopeId: string, baselineAnywhere = false): ChainStep {
    const alarmedOf = () => this.history.missingLinks().filter((m) => m.channel === channel && m.kid === kid && m.alarmedAt !== null).length;
    const { step, resolved } = this.history.transaction(() => {
      const before = this.history.senderChain(channel, kid);
      const advance = advanceChain(before, link, { baselineAnywhere });
      if (advance.step.kind === 'fork') return { step: advance.step, resolved: false };
      const alarmedBefore = alarmedOf();
      this.history.setSenderChain(channel, kid, advance.state);
      this.history.noteChainLink(channel, kid, link, envelopeId);
      this.history.syncMissing(channel, kid, missingLinks(advance.state), this.now());
      return { step: advance.step, resolved: alarmedBefore > 0 && alarmedOf() === 0 };
    });
    // What was alarmed as missing has come after all: the alarm is closed (it stays in the history).
    if (resolved) this.history.closeAlarms(`MISSING|${channel}|${kid}|`, this.now());
    if (step.kind === 'fork') {
      this.alarm(
        'CHAIN_FORK',
        `${this.senderLabel(kid)} on ${channel}: ${step.reason} (envelope ${envelopeId}). Two different histories of this sender exist — ` +
          `its key is used elsewhere, or a relay forged a record. Call the sender's state and your authority on a known number`,
        envelopeId,
        null,
        { channel },
      );
    }
    return step;
  }

  /** A delivered link: applied at once; a gap it opens is asked of the relays right after this delivery. */
  private onDeliveredLink(conn: RelayConnection, channel: string, kid: string, link: ChainLink, id: string): void {
    const before = this.history.senderChain(channel, kid);
    const firstContact = before.position === null && before.ahead.size === 0 && link.chanSeq > 1;
    const step = this.applyLink(channel, kid, link, id);
    if (step.kind !== 'gap') return;
    this.queueReceiving(async () => {
      if (firstContact) await this.backfill(conn, channel, kid, link);
      else await this.fetchLinks(conn, channel, kid, step.first, step.last);
      if (this.history.missingLinks().some((m) => m.alarmedAt === null)) this.scheduleGraceCheck(this.chainGraceMs);
    });
  }

  /**
   * The first link seen from a sender is not its first (a new member, or history from before this PoC): the links before
   * it (up to 256) are asked for, and the earliest the relay proves becomes the baseline. None proved: the link itself is.
   */
  private async backfill(conn: RelayConnection, channel: string, kid: string, link: ChainLink): Promise<void> {
    const first = Math.max(1, link.chanSeq - CHAIN_PAGE);
    const items = await this.chainItemsFrom(conn, channel, kid, first, link.chanSeq - 1).catch((e: unknown) => {
      this.warn(toHotlineError(e));
      return [];
    });
    // The earliest link asked for becomes the baseline only when the relay proves it. An error, an empty answer or one
    // that starts later proves nothing: the links before stay missing, are asked for again and alarmed after the grace
    // period like any gap (an honest relay always holds a sender's chain from 1, and shows it).
    const proved = items[0]?.link.chanSeq === first;
    for (const [i, item] of items.entries()) await this.applyItem(conn, channel, kid, item, proved && i === 0);
  }

  /** Asks the relays (the delivering one first) for chanSeq first..last of a sender's chain and applies what they prove. */
  private async fetchLinks(conn: RelayConnection, channel: string, kid: string, first: number, last: number): Promise<void> {
    const stillMissing = () => missingLinks(this.history.senderChain(channel, kid)).filter((n) => n >= first && n <= last);
    for (const c of [conn, ...this.ready().filter((r) => r !== conn)]) {
      if (!c.ready || stillMissing().length === 0) return;
      const wanted = stillMissing();
      try {
        const items = await this.chainItemsFrom(c, channel, kid, Math.min(...wanted), Math.max(...wanted));
        for (const item of items) await this.applyItem(c, channel, kid, item, false);
      } catch (e) {
        this.warn(toHotlineError(e));
      }
    }
  }

  /** A verified chain answer applied: the link always; a whole envelope also through the delivery path. */
  private async applyItem(conn: RelayConnection, channel: string, kid: string, item: VerifiedChainItem, baselineAnywhere: boolean): Promise<void> {
    // A whole envelope counts as its link once it is on record here: one that does not open, or whose signer has no
    // standing, leaves the link missing (and so alarmed), not silently filled.
    if (item.envelope && !this.history.has(item.id)) await this.receive(conn, { type: 'deliver', envelope: item.envelope, receipt: item.receipt }, { fetched: true });
    if (item.envelope && !this.history.has(item.id)) return;
    this.applyLink(channel, kid, item.link, item.id, baselineAnywhere);
  }

  /** chain.get for first..last, page by page (the relay may answer fewer than asked), each item verified. */
  private async chainItemsFrom(conn: RelayConnection, channel: string, kid: string, first: number, last: number): Promise<VerifiedChainItem[]> {
    const out: VerifiedChainItem[] = [];
    for (let from = first; from <= last; ) {
      const to = Math.min(last, from + CHAIN_PAGE - 1);
      const answer = await conn.request<ChainAnswer>({ type: 'chain.get', channel, from: kid, first: from, last: to });
      for (const item of answer.items) {
        const verified = this.verifyChainItem(conn, channel, kid, item);
        if (verified && verified.link.chanSeq >= from && verified.link.chanSeq <= to) out.push(verified);
      }
      const top = Math.max(from - 1, ...answer.items.map((i) => i.header.chanSeq ?? 0), ...answer.missing);
      if (top < from) break;
      from = top + 1;
    }
    return out.sort((a, b) => a.link.chanSeq - b.link.chanSeq);
  }

  /**
   * One link a relay answered: signed by the sender, its hash the one the relay's (pinned) receipt names. A whole
   * envelope must hash to it; signed parts alone prove a link only when this PoC is not among its recipients.
   */
  private verifyChainItem(conn: RelayConnection, channel: string, kid: string, item: ChainItem): VerifiedChainItem | null {
    const h = item.header;
    try {
      if (h.channel !== channel || h.from !== kid || h.chanSeq === undefined || h.prev === undefined) throw new HotlineError('BAD_ENVELOPE', `the relay answered another chain's link ${h.id}`);
      verifySignedParts(h, item.recipients, item.bodyHash, item.sig);
      const hash = digestFromParts(h, item.recipients, item.bodyHash, item.sig);
      verifyReceipt(item.receipt, conn.relayKid ?? undefined);
      if (item.receipt.id !== h.id || item.receipt.hash !== hash) throw new HotlineError('BAD_RECEIPT', `the relay's receipt for link ${h.chanSeq} names another envelope`);
      if (item.envelope !== null && envelopeDigest(item.envelope).hash !== hash) throw new HotlineError('BAD_ENVELOPE', `the envelope given for link ${h.chanSeq} is not the one signed`);
      if (item.envelope === null && item.recipients.some((r) => r.kid === this.identity.kid)) {
        throw new HotlineError('MISSING', `link ${h.chanSeq} is addressed to this PoC, but the relay gave only its signed parts`);
      }
      return { link: { chanSeq: h.chanSeq, prev: h.prev, hash }, id: h.id, envelope: item.envelope, receipt: item.receipt };
    } catch (cause) {
      const e = toHotlineError(cause);
      this.warn(new HotlineError(e.code, `${conn.url}: chain answer for ${channel} from ${kid.slice(0, 8)}… not used: ${e.message}`));
      return null;
    }
  }

  private scheduleGraceCheck(delayMs: number): void {
    if (this.closed) return;
    const due = Date.now() + delayMs;
    if (this.graceTimer && this.graceDue <= due) return;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceDue = due;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = null;
      this.graceDue = Infinity;
      this.queueReceiving(() => this.checkMissing());
    }, Math.max(0, delayMs));
    this.graceTimer.unref();
  }

  /** Links missing longer than the grace period: asked for once more, then alarmed as MISSING (once each). */
  private async checkMissing(): Promise<void> {
    const overdue = () => this.history.missingLinks().filter((m) => m.alarmedAt === null && this.now() - m.since >= this.chainGraceMs);
    const chains = new Map<string, { channel: string; kid: string }>();
    for (const m of overdue()) chains.set(`${m.channel} ${m.kid}`, { channel: m.channel, kid: m.kid });
    for (const { channel, kid } of chains.values()) {
      const conn = this.ready()[0];
      const seqs = () => overdue().filter((m) => m.channel === channel && m.kid === kid).map((m) => m.chanSeq);
      const asked = seqs();
      if (conn && asked.length) await this.fetchLinks(conn, channel, kid, Math.min(...asked), Math.max(...asked));
      const still = seqs();
      if (still.length === 0) continue;
      this.history.markMissingAlarmed(channel, kid, still, this.now());
      const one = still.length === 1;
      this.alarm(
        'MISSING',
        `${one ? 'an envelope' : `${still.length} envelopes`} from ${this.senderLabel(kid)} on ${channel} never arrived: number ${still.join(', ')} of its chain. ` +
          `Later ones did, and no relay handed ${one ? 'it' : 'them'} over when asked — dropped or withheld on the way. Ask the sender on a known number what they sent`,
        null,
        conn?.url ?? null,
        { channel, key: `MISSING|${channel}|${kid}|${still.join(',')}` },
      );
    }
    const left = this.history.missingLinks().filter((m) => m.alarmedAt === null);
    if (left.length) this.scheduleGraceCheck(Math.max(50, Math.min(...left.map((m) => m.since + this.chainGraceMs - this.now()))));
  }

  // ---- witnessing the relays' audit chains ----

  private noteAuditHead(conn: RelayConnection, seq: number, hash: string | undefined): void {
    if (hash === undefined) return;
    const seen = this.auditSeen.get(conn);
    if (!seen || seq > seen.seq) this.auditSeen.set(conn, { seq, hash });
  }

  private startWitnessing(): void {
    if (this.witnessTimer || this.closed) return;
    this.witnessTimer = setInterval(() => this.witnessHeads(), this.witnessEveryMs);
    this.witnessTimer.unref();
  }

  /** Witnesses, on each connected relay, the highest audit head seen from it since the last statement. */
  private witnessHeads(): void {
    for (const conn of this.ready()) {
      const seen = this.auditSeen.get(conn);
      if (seen && seen.seq > (this.auditWitnessed.get(conn) ?? 0)) this.track(this.witness(conn, seen.seq, seen.hash));
    }
  }

  /**
   * Signs that this PoC saw the relay's chain at `seq` with head `head` and keeps the statement (every one: they are this
   * PoC's evidence), then hands it to the relay. Hand-overs go one at a time and at most every WITNESS_GAP_MS per relay
   * (the relay limits them per connection): one that a newer statement overtakes while waiting is not sent — the newer
   * head is hash-linked to it and covers it — and is marked so.
   */
  private async witness(conn: RelayConnection, seq: number, head: string): Promise<void> {
    const state = this.options.profile.state;
    if (!state || !conn.relayKid || this.closed) return;
    const statement = signWitness(this.identity, { relay: conn.relayKid, state, seq, head, at: this.now() });
    this.history.addWitness(statement);
    this.auditWitnessed.set(conn, Math.max(seq, this.auditWitnessed.get(conn) ?? 0));
    let out = this.witnessOut.get(conn);
    if (!out) this.witnessOut.set(conn, (out = { next: null, busy: false, lastAt: 0 }));
    if (out.next && out.next.seq >= statement.seq) {
      this.history.setWitnessOutcome(statement, 'covered');
      return;
    }
    if (out.next) this.history.setWitnessOutcome(out.next, 'covered');
    out.next = statement;
    if (out.busy) return;
    out.busy = true;
    try {
      while (out.next && !this.closed) {
        const wait = out.lastAt + WITNESS_GAP_MS - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const next = out.next;
        if (!next) break;
        out.next = null;
        out.lastAt = Date.now();
        await this.handOverWitness(conn, next);
      }
    } finally {
      out.busy = false;
    }
  }

  private async handOverWitness(conn: RelayConnection, statement: WitnessStatement): Promise<void> {
    try {
      await conn.request({ type: 'witness', statement });
      if (!this.closed) this.history.setWitnessOutcome(statement, 'ok');
    } catch (cause) {
      const e = toHotlineError(cause);
      if (this.closed) return;
      this.history.setWitnessOutcome(statement, e.code);
      if (e.code === 'WITNESS_MISMATCH') {
        this.alarm(
          'WITNESS_MISMATCH',
          `relay ${conn.url} says its audit chain at event ${statement.seq} is not the one it showed this PoC (head ${statement.head.slice(0, 8)}…): its history may have been rewritten. ` +
            `Keep this PoC's witness file (hotline witness export) and report it to both authorities`,
          null,
          conn.url,
        );
      }
    }
  }

  /** Keeps background work (witness statements) among what settle() waits for. */
  private track(work: Promise<unknown>): void {
    const p: Promise<unknown> = work.catch((e: unknown) => this.warn(toHotlineError(e))).finally(() => this.outgoing.delete(p));
    this.outgoing.add(p);
  }

  /** A person's answer to a communication check, to every relay. */
  async ackCheck(checkId: string): Promise<number> {
    const ready = this.ready();
    if (ready.length === 0) throw new HotlineError('RELAY_UNREACHABLE', 'not connected to any relay');
    const results = await Promise.allSettled(
      ready.map((c) =>
        c.request({ type: 'check.ack', checkId, sig: signStatement(this.identity, 'hotline-check-ack-v1', { checkId, kid: this.identity.kid, relay: c.relayKid ?? '' }) }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    if (ok === 0) throw toHotlineError((results[0] as PromiseRejectedResult).reason);
    return ok;
  }

  /** Drill directors: registers a drill on every relay. */
  async startDrill(input: { drillId: string; name: string; channel: string; timeScale: number; deadlines: Partial<Record<Level, number>> }): Promise<void> {
    const ready = this.ready();
    if (ready.length === 0) throw new HotlineError('RELAY_UNREACHABLE', 'not connected to any relay');
    await Promise.all(ready.map((c) => c.request({ type: 'drill.start', ...input })));
  }

  async endDrill(drillId: string): Promise<void> {
    await Promise.allSettled(this.ready().map((c) => c.request({ type: 'drill.end', drillId })));
  }

  /** The relay's timing records and messages of a drill (from the first relay that answers). */
  async drillStatus(drillId: string): Promise<DrillStatus> {
    const conn = this.ready()[0];
    if (!conn) throw new HotlineError('RELAY_UNREACHABLE', 'not connected to any relay');
    return conn.request<DrillStatus>({ type: 'drill.status', drillId });
  }
}
