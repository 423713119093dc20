// HotlineClient: the SDK a PoC's tools use — connect to one or more relays, send, receive exactly once, receipt, acknowledge, raise.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import {
  buildEnvelope,
  checkEventDataSchema,
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
import { trustContact } from './trust.ts';

type Deliver = Extract<RelayMessage, { type: 'deliver' }>;
type Accepted = Extract<RelayMessage, { type: 'accepted' }>;
type Keys = Extract<RelayMessage, { type: 'keys' }>;
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
    const pinned = new Map(options.profile.relays.map((r) => [r.url, r.kid]));
    this.connections = options.relays.map((url) => {
      const conn = new RelayConnection({ url, identity: options.keystore.identity, relayKid: pinned.get(url) ?? null, reconnect: options.reconnect });
      conn.on('welcome', (welcome) => {
        this.relayClockOffset = welcome.serverTime - this.now();
        this.processedSinceWelcome.set(conn, 0);
        this.emit('connection', { relay: url, up: true, willRetry: false });
        this.publishPrekey(conn).catch((e: unknown) => this.warn(toHotlineError(e)));
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

  /** Active recipients among `entries`; throws KeyChangedError when one of them is a changed, not yet trusted key. */
  private recipientsFrom(entries: readonly DirectoryEntry[], states: readonly string[]): DirectoryEntry[] {
    const active = entries.filter((e) => states.includes(e.state) && !e.revoked && e.kid !== this.identity.kid && e.role !== 'reviewer');
    const changed = active.map((e) => this.history.contact(e.kid)).filter((c): c is ContactRecord => c?.status === 'changed');
    if (changed.length) throw new KeyChangedError(changed);
    const usable = active.filter((e) => e.prekey !== null && e.prekey.notAfter > this.prekeyClock());
    return usable;
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
    const entries = await this.directory(channel.states as unknown as string[]);
    // A director's inject goes to the participant state it targets only: the state it plays does not receive it.
    const recipients = this.recipientsFrom(entries, director ? [input.toState] : (channel.states as unknown as string[]));
    const toSide = recipients.filter((r) => r.state === input.toState);
    if ((kind === 'notice' || kind === 'raise' || kind === 'reply') && toSide.length === 0) {
      throw new HotlineError('UNKNOWN_STATE', `${input.toState} has no active PoC with a published key on this relay yet`);
    }
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
        },
        content,
        recipients: recipients.map((r) => ({ kid: r.kid, prekey: r.prekey as NonNullable<DirectoryEntry['prekey']> })),
        now: this.prekeyClock(),
      });
      const outcome = await this.submit(envelope);
      if (outcome.receipts.length > 0) {
        const first = outcome.receipts[0] as RelayReceipt;
        this.history.record(
          messageRecordOf(envelope.header, content, first, 'out'),
          this.now(),
        );
        return {
          id,
          channel: channel.id,
          acceptedAt: first.acceptedAt,
          ackDeadline: first.ackDeadline,
          receipts: outcome.receipts,
          failed: outcome.failed,
          recipients: recipients.length,
        };
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
    return this.send({ toState: root.toState, level, text: text || `Raised to ${level}`, kind: 'raise', refs: [root.id], drill: root.drill });
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
          // First word from this key: learn (and pin) who it is, so people see a name, not a key.
          await this.directory([msg.envelope.header.fromState]).catch(() => undefined);
        }
        this.receive(conn, msg);
      } catch (e) {
        this.warn(toHotlineError(e));
      }
    });
  }

  /** The display name of a key: a pinned contact, or this identity itself. */
  nameOf(kid: string): string | null {
    if (kid === this.identity.kid) return `${this.options.profile.name} (you)`;
    return this.history.contact(kid)?.name ?? null;
  }

  private receive(conn: RelayConnection, msg: Deliver): void {
    const envelope = parseEnvelope(msg.envelope);
    const h = envelope.header;
    if (this.history.has(h.id)) {
      this.confirm(conn, h.id);
      return;
    }
    const ks = this.options.keystore;
    const opened = openEnvelope(envelope, { kid: this.identity.kid, prekeySecrets: ks.prekeySecrets() });
    verifyReceipt(msg.receipt, conn.relayKid ?? undefined);
    if (msg.receipt.id !== h.id || msg.receipt.hash !== opened.digest.hash) {
      throw new HotlineError('BAD_SIGNATURE', `relay receipt for ${h.id} does not match the envelope`);
    }
    const record = messageRecordOf(h, opened.content, msg.receipt, h.from === this.identity.kid ? 'out' : 'in');
    const fresh = this.history.transaction(() => {
      this.history.noteSenderSeq(h.from, h.seq);
      return this.history.record(record, this.now());
    });
    this.confirm(conn, h.id);
    if (!fresh) return;
    const full = this.history.get(h.id) as MessageRecord;
    const sender = this.history.contact(h.from);
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
          byName: sender?.name ?? null,
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
        this.emit('receipt', { id: h.id, noticeId: h.refs[0] ?? '', by: h.from, byName: sender?.name ?? null, byState: h.fromState, deliveredAt: msg.receipt.acceptedAt });
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
