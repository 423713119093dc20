// HotlineClient: the SDK a PoC's tools use — connect to one or more relays, send, receive exactly once, receipt, acknowledge, raise.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import {
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
  type EnvelopeHeader,
  type Level,
  type RelayMessage,
  type RelayReceipt,
} from '../shared/index.ts';
import { HistoryStore, type ContactRecord, type MessageRecord } from './history.ts';
import type { Keystore } from './keystore.ts';
import type { Profile } from './profile.ts';
import { RelayConnection } from './relay-connection.ts';
import { trustContact } from './trust/contacts.ts';
import { ingestTrustDocuments } from './trust/trust-keeper.ts';
import { TrustStore } from './trust/trust-store.ts';

type Deliver = Extract<RelayMessage, { type: 'deliver' }>;
type Accepted = Extract<RelayMessage, { type: 'accepted' }>;
type Keys = Extract<RelayMessage, { type: 'keys' }>;
type TrustDocs = Extract<RelayMessage, { type: 'trust' }>;
type RecipientKeyOf = { kid: string; prekey: NonNullable<DirectoryEntry['prekey']> };
type RelayEventMessage = Extract<RelayMessage, { type: 'event' }>;
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
function messageRecordOf(h: EnvelopeHeader, content: { subject: string | null; text: string }, receipt: RelayReceipt, direction: 'in' | 'out'): Omit<MessageRecord, 'recordedAt'> {
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
    receipt,
  };
}

export class HotlineClient extends EventEmitter<HotlineClientEvents> {
  readonly history: HistoryStore;
  /** Rosters and charters this PoC verified against its pinned authority. */
  readonly trustStore: TrustStore;
  private readonly connections: RelayConnection[];
  private readonly now: () => number;
  private confirmQueue = new Map<RelayConnection, string[]>();
  private confirmScheduled = false;
  private processedSinceWelcome = new Map<RelayConnection, number>();
  /** The relay's clock minus this PoC's, measured at the last welcome (0 until one came). */
  private relayClockOffset = 0;

  constructor(private readonly options: HotlineClientOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.history = new HistoryStore(join(options.keystore.home, 'history.db'));
    this.trustStore = new TrustStore(this.history.db);
    const pinned = new Map(options.profile.relays.map((r) => [r.url, r.kid]));
    this.connections = options.relays.map((url) => {
      const conn = new RelayConnection({ url, identity: options.keystore.identity, relayKid: pinned.get(url) ?? null, reconnect: options.reconnect });
      conn.on('welcome', (welcome) => {
        this.relayClockOffset = welcome.serverTime - this.now();
        this.processedSinceWelcome.set(conn, 0);
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
    this.flushConfirms();
    for (const c of this.connections) c.close();
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

  private alarm(code: string, message: string, id: string | null = null, relay: string | null = null): void {
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
    if ((kind === 'notice' || kind === 'reply' || kind === 'raise') && input.text.trim().length === 0) {
      throw new HotlineError('BAD_INPUT', 'the notice text is empty: write what happened');
    }
    const channel = this.channelTo(input.toState, own);
    let plan = await this.planRecipients(channel, own, input.toState, kind, director);
    const id = uuidv7(this.now());
    const content = { subject: input.subject ?? null, text: input.text };
    let lastError: HotlineError | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const createdAt = this.now();
      const envelope = buildEnvelope({
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
        },
        content,
        recipients: plan.recipients,
        now: this.prekeyClock(),
      });
      const outcome = await this.submit(envelope);
      if (outcome.receipts.length > 0) {
        const first = outcome.receipts[0] as RelayReceipt;
        // The deadline is the charter's (or the drill's, signed in the header): a relay that states another is alarmed.
        const charter = plan.trust.charter.charter;
        const deadline = expectedAckDeadline(charter, envelope.header, first.acceptedAt);
        // Each relay times its own acceptance: its deadline is judged from its own acceptedAt.
        for (const r of outcome.receipts) this.checkStatedDeadline(envelope.header, r, expectedAckDeadline(charter, envelope.header, r.acceptedAt), null);
        this.history.record(
          { ...messageRecordOf(envelope.header, content, first, 'out'), ackDeadline: deadline },
          this.now(),
        );
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
      if (outcome.failed.some((f) => f.code === 'TRUST_STALE')) {
        plan = await this.planRecipients(channel, own, input.toState, kind, director, true);
        continue;
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

  private async submit(envelope: Envelope): Promise<{ receipts: RelayReceipt[]; failed: { relay: string; code: string; message: string }[] }> {
    const ready = this.ready();
    const results = await Promise.allSettled(ready.map((c) => c.request<Accepted>({ type: 'send', envelope })));
    const receipts: RelayReceipt[] = [];
    const failed: { relay: string; code: string; message: string }[] = [];
    results.forEach((r, i) => {
      const conn = ready[i] as RelayConnection;
      if (r.status === 'fulfilled') {
        try {
          verifyReceipt(r.value.receipt, conn.relayKid ?? undefined);
          if (r.value.receipt.id !== envelope.header.id) throw new HotlineError('BAD_SIGNATURE', 'receipt names another envelope');
          receipts.push(r.value.receipt);
        } catch (e) {
          const err = toHotlineError(e);
          failed.push({ relay: conn.url, code: err.code, message: err.message });
        }
      } else {
        const err = toHotlineError(r.reason);
        failed.push({ relay: conn.url, code: err.code, message: err.message });
      }
    });
    return { receipts, failed };
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

  private async receive(conn: RelayConnection, msg: Deliver): Promise<void> {
    const envelope = parseEnvelope(msg.envelope);
    const h = envelope.header;
    if (this.history.has(h.id)) {
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
    const opened = openEnvelope(envelope, { kid: this.identity.kid, prekeySecrets: ks.prekeySecrets() });
    verifyReceipt(msg.receipt, conn.relayKid ?? undefined);
    if (msg.receipt.id !== h.id || msg.receipt.hash !== opened.digest.hash) {
      throw new HotlineError('BAD_SIGNATURE', `relay receipt for ${h.id} does not match the envelope`);
    }
    const deadline = expectedAckDeadline(trust.charter, h, msg.receipt.acceptedAt);
    this.checkStatedDeadline(h, msg.receipt, deadline, conn.url);
    const record = { ...messageRecordOf(h, opened.content, msg.receipt, h.from === this.identity.kid ? 'out' : 'in'), ackDeadline: deadline };
    const fresh = this.history.transaction(() => {
      this.history.noteSenderSeq(h.from, h.seq);
      return this.history.record(record, this.now());
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

  private readonly seenEvents = new Set<string>();

  private onRelayEvent(conn: RelayConnection, msg: RelayEventMessage): void {
    // Relay events come at least once (again after a reconnect): show each once per relay.
    const key = `${conn.relayKid ?? conn.url}:${msg.event.auditSeq}`;
    if (this.seenEvents.has(key)) return;
    this.seenEvents.add(key);
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
