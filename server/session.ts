// One WebSocket connection's protocol: challenge–response auth, then send / confirm / keys / prekeys, with typed errors.
import type { WebSocket } from 'ws';
import {
  clientMessageSchema,
  HotlineError,
  ridSchema,
  randomBytes,
  toB64u,
  toHotlineError,
  verifyPrekey,
  verifyStatement,
  witnessAuditData,
  envelopeDigest,
  type RelayReceipt,
  type WitnessStatement,
  type ClientMessage,
  type Envelope,
  type ErrorCode,
  type RelayMessage,
} from '../shared/index.ts';
import { checkRecipients, commitEnvelope, precheckEnvelope } from './accept.ts';
import type { RelayContext } from './relay-context.ts';
import type { DeliverySink } from './delivery.ts';
import type { MemberRecord } from './store.ts';

export const AUTH_CTX = 'hotline-auth-v1';
/** Most chain links one chain.get answers. */
const CHAIN_PAGE = 256;
/** Ceiling on the envelope JSON one chain answer reads (a whole envelope goes out twice: whole and as signed parts). */
const CHAIN_ANSWER_BYTES = 2 * 1024 * 1024;
/** chain.get and witness statements per second per connection (each reads or appends to the store). */
const CHAIN_GETS_PER_SEC = 10;
const WITNESSES_PER_SEC = 5;

/** A small token bucket: `ratePerSec` sustained, `burst` at once. */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSec);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A text frame's JSON, or undefined when it is binary or not JSON. */
function parseFrame(data: Buffer, isBinary: boolean): unknown {
  if (isBinary) return undefined;
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The rid a frame carries (null when none, or not a valid one): error frames name the request they refuse. */
function ridOf(raw: unknown): string | null {
  return typeof raw === 'object' && raw !== null && 'rid' in raw && ridSchema.safeParse(raw.rid).success ? (raw.rid as string) : null;
}

export class Session implements DeliverySink {
  private readonly nonce = toB64u(randomBytes(32));
  private member: MemberRecord | null = null;
  /** The tail of this connection's sends waiting for their signature check or commit, in arrival order. */
  private acceptQueue: Promise<void> = Promise.resolve();
  private closed = false;
  /** Highest audit seq this connection's key witnessed. */
  private lastWitnessed = 0;
  private readonly chainBucket = new TokenBucket(CHAIN_GETS_PER_SEC, 2 * CHAIN_GETS_PER_SEC, Date.now());
  private readonly witnessBucket = new TokenBucket(WITNESSES_PER_SEC, 6 * WITNESSES_PER_SEC, Date.now());
  private readonly bucket: TokenBucket;
  private readonly authTimer: unknown;
  /** Delivery's reading probes waiting for their pong, by ping payload. */
  private readonly probes = new Map<string, () => void>();
  private probeCount = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: RelayContext,
  ) {
    this.bucket = new TokenBucket(ctx.config.limits.ratePerSec, ctx.config.limits.rateBurst, Date.now());
    this.authTimer = ctx.clock.setTimer(ctx.config.limits.authTimeoutMs, () => {
      if (!this.member) this.fail('AUTH_TIMEOUT');
    });
    this.send({ type: 'challenge', nonce: this.nonce, relay: ctx.identity.kid, serverTime: ctx.clock.now(), protocol: 1 });
    ws.on('pong', (data: Buffer) => this.onPong(data));
  }

  get kid(): string {
    return this.member?.kid ?? '';
  }

  get state(): string {
    return this.member?.state ?? '';
  }

  get authenticated(): boolean {
    return this.member !== null;
  }

  /** True once the relay or the peer has closed this session (the socket may still be finishing its close handshake). */
  get isClosed(): boolean {
    return this.closed;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(message: RelayMessage | string): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    return true;
  }

  probeReading(onRead: () => void): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    // Payloads tell a probe's pong from the heartbeat's (empty) ones; pongs come back in the order of their pings.
    const payload = `probe ${++this.probeCount}`;
    this.probes.set(payload, onRead);
    this.ws.ping(payload);
  }

  private onPong(data: Buffer): void {
    const payload = data.toString('utf8');
    const onRead = this.probes.get(payload);
    if (!onRead) return;
    this.probes.delete(payload);
    onRead();
  }

  /** Sends an error frame; codes with a close code also close the socket. */
  fail(code: ErrorCode, message?: string, rid: string | null = null, detail?: Readonly<Record<string, unknown>>): void {
    this.ctx.metrics.rejected.inc({ code });
    const error = new HotlineError(code, message);
    // Messages are bounded and never echo much of what the sender wrote; detail is the relay's own facts (CHAIN_BROKEN).
    const hasDetail = detail !== undefined && Object.keys(detail).length > 0;
    this.send({ type: 'error', rid, code, message: error.message.slice(0, 500), ...(hasDetail ? { detail: { ...detail } } : {}) });
    const close = this.ctx.closeCodeOf(code);
    if (close !== null) this.close(close, code);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.clock.clearTimer(this.authTimer);
    this.ws.close(code, reason);
    // ws waits up to 30 s for the peer's close frame; an unauthenticated peer gets one second, then its socket goes.
    if (!this.member) setTimeout(() => this.ws.terminate(), 1000).unref();
  }

  /** Called when the socket is gone, whoever closed it. */
  onClosed(): void {
    this.closed = true;
    this.ctx.clock.clearTimer(this.authTimer);
    if (this.member) this.ctx.onSessionEnd(this);
  }

  onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    const limits = this.ctx.config.limits;
    if (!this.bucket.take(Date.now())) {
      // Named by its rid (when it has one within the size limit) so that the client knows which request to send again.
      const frame = data.length <= limits.maxFrameBytes ? parseFrame(data, isBinary) : undefined;
      return this.fail('RATE_LIMITED', `more than ${limits.ratePerSec} messages a second on this connection: this one was not handled`, ridOf(frame));
    }
    if (data.length > limits.maxFrameBytes) return this.fail('FRAME_TOO_LARGE', `frame of ${data.length} bytes exceeds ${limits.maxFrameBytes}`);
    const raw = parseFrame(data, isBinary);
    if (raw === undefined) return this.fail('BAD_FRAME');
    const rid = ridOf(raw);
    const parsed = clientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join('.') || 'message';
      const what = issue?.code === 'unrecognized_keys' ? `${issue.keys.length} unknown field(s)` : (issue?.message ?? 'invalid');
      return this.fail('BAD_SCHEMA', `${where.slice(0, 100)}: ${what.slice(0, 200)}`, rid);
    }
    try {
      this.handle(parsed.data);
    } catch (cause) {
      const error = toHotlineError(cause);
      if (error.code === 'INTERNAL') this.ctx.logger.error({ err: cause, kid: this.kid }, 'message handling failed');
      this.fail(error.code, error.message, rid);
    }
  }

  private handle(msg: ClientMessage): void {
    if (!this.member) {
      if (msg.type !== 'auth') throw new HotlineError('AUTH_REQUIRED');
      return this.authenticate(msg.kid, msg.sig);
    }
    const member = this.member;
    switch (msg.type) {
      case 'auth':
        throw new HotlineError('BAD_SCHEMA', 'already authenticated');
      case 'ping':
        this.send({ type: 'pong', rid: msg.rid, serverTime: this.ctx.clock.now() });
        return;
      case 'send':
        return this.accept(msg.rid, member, msg.envelope);
      case 'confirm':
        this.ctx.delivery.confirm(this, msg.ids).catch((cause: unknown) => {
          this.ctx.logger.error({ err: cause, kid: this.kid }, 'confirm failed');
          this.fail('INTERNAL');
        });
        return;
      case 'prekey.publish': {
        verifyPrekey(msg.prekey, this.ctx.clock.now(), member.kid);
        this.ctx.store.putPrekey(msg.prekey, this.ctx.clock.now());
        this.send({ type: 'ok', rid: msg.rid });
        return;
      }
      case 'drill.start':
        this.reply(msg.rid, this.ctx.drills.start(member, msg).then(() => ({ type: 'ok', rid: msg.rid }) as const));
        return;
      case 'drill.end':
        this.reply(msg.rid, this.ctx.drills.end(member, msg.drillId).then(() => ({ type: 'ok', rid: msg.rid }) as const));
        return;
      case 'drill.status': {
        const drill = this.ctx.drills.ownDrill(member, msg.drillId);
        const status = this.ctx.drillStatus(drill);
        this.send({ type: 'drill.status', rid: msg.rid, drill, ...status, serverTime: this.ctx.clock.now() });
        return;
      }
      case 'check.receipt':
        this.ctx.checks.answer(member, msg.checkId, 'receipt', msg.sig).catch((cause: unknown) => {
          const e = toHotlineError(cause);
          this.fail(e.code, e.message);
        });
        return;
      case 'check.ack':
        this.reply(msg.rid, this.ctx.checks.answer(member, msg.checkId, 'ack', msg.sig).then(() => ({ type: 'ok', rid: msg.rid }) as const));
        return;
      case 'trust.get': {
        const channels = member.role === 'director' ? this.ctx.store.listChannels() : this.ctx.store.channelsOf(member.state);
        const docs = this.ctx.acceptContext.trust.documentsFor(channels.map((c) => c.id));
        this.send({ type: 'trust', rid: msg.rid, charters: docs.charters as Record<string, unknown>[], rosters: docs.rosters as Record<string, unknown>[] });
        return;
      }
      case 'witness':
        this.reply(msg.rid, this.witness(member, msg.statement).then(() => ({ type: 'ok', rid: msg.rid }) as const));
        return;
      case 'chain.get':
        this.send(this.chainItems(member, msg));
        return;
      case 'keys.get': {
        // A drill director plays either party of any channel, so it may look up every state's PoCs.
        const mine = member.role === 'director' ? this.ctx.store.listStates() : this.ctx.store.channelsOf(member.state).flatMap((c) => c.states);
        const allowed = new Set([member.state, ...mine]);
        const wanted = msg.states.length ? msg.states : [...allowed];
        for (const s of wanted) {
          if (!allowed.has(s)) throw new HotlineError('NOT_CHANNEL_MEMBER', `no channel between ${member.state} and ${s}`);
        }
        const entries = this.ctx.store.directory(wanted, this.ctx.clock.now()).filter((e) => e.role !== 'reviewer');
        // Directors are listed to everyone so that a drill inject shows who really sent it.
        for (const d of this.ctx.store.directors(this.ctx.clock.now())) if (!entries.some((e) => e.kid === d.kid)) entries.push(d);
        this.send({ type: 'keys', rid: msg.rid, entries });
        return;
      }
    }
  }

  /**
   * The accept path of one `send`: cheap checks now, the signature on the verify pool, then the commit. Signatures
   * of one connection are checked in parallel, but their commits are queued in the order the frames arrived, so that
   * a sender's seq stays increasing and its notices are stored in the order it sent them.
   */
  private accept(rid: string, member: MemberRecord, envelope: Envelope): void {
    const arrived = performance.now();
    const pre = precheckEnvelope(this.ctx.acceptContext, member, envelope);
    const envelopeJson = JSON.stringify(envelope);
    const verified = this.ctx.verifier.verify(envelope, envelopeJson);
    // Settled here so that a refused signature is never an unhandled rejection while earlier sends are still queued.
    verified.catch(() => undefined);
    // The queue holds only "verified, then enqueued": waiting for the commit here would allow one commit per connection at a time.
    const enqueued = this.acceptQueue
      .then(() => verified)
      .then((digest) => {
        checkRecipients(this.ctx.acceptContext, pre, envelope);
        return { committed: this.ctx.commits.enqueue(() => commitEnvelope(this.ctx.acceptContext, { envelope, envelopeJson, digest, ...pre })) };
      });
    this.acceptQueue = enqueued.then(
      () => undefined,
      () => undefined,
    );
    enqueued
      .then(({ committed }) => committed)
      .then(
        (accepted) => {
          this.send({ type: 'accepted', rid, receipt: accepted.receipt, duplicate: accepted.duplicate });
          this.ctx.metrics.acceptSeconds.observe((performance.now() - arrived) / 1000);
          if (!accepted.duplicate) this.ctx.onAccepted(accepted);
        },
        (cause: unknown) => {
          const error = toHotlineError(cause);
          if (error.code === 'INTERNAL') this.ctx.logger.error({ err: cause, id: envelope.header.id }, 'accept failed');
          this.fail(error.code, error.message, rid, error.code === 'CHAIN_BROKEN' || error.code === 'SENDER_QUOTA' ? error.detail : undefined);
        },
      );
  }

  /**
   * A PoC's witness statement: signed by this connection's key, about this relay, naming the chain as it is here at
   * that seq. Appended to the audit chain (type `witness`), where it is exported with the bundle.
   */
  private async witness(member: MemberRecord, statement: WitnessStatement): Promise<void> {
    if (member.role === 'reviewer') throw new HotlineError('WRONG_ROLE', 'reviewers do not witness');
    if (statement.kid !== member.kid || statement.state !== member.state) throw new HotlineError('WRONG_STATE', 'a witness statement is signed by the key authenticated on this connection, for its own state');
    if (statement.relay !== this.ctx.identity.kid) throw new HotlineError('BAD_INPUT', 'the witness statement names another relay');
    if (!this.witnessBucket.take(Date.now())) throw new HotlineError('RATE_LIMITED', `at most ${WITNESSES_PER_SEC} witness statements per second`);
    await this.ctx.verifier.verifyWitness(statement);
    const head = this.ctx.store.auditHashAt(statement.seq);
    if (head === null) throw new HotlineError('WITNESS_MISMATCH', `this relay has no audit event ${statement.seq}`);
    if (head !== statement.head) throw new HotlineError('WITNESS_MISMATCH', `audit event ${statement.seq} here has another hash than the one witnessed`);
    // One statement per head per connection: a repeat (or an older head, checked above all the same) adds nothing to the chain.
    if (statement.seq <= this.lastWitnessed) return;
    this.lastWitnessed = statement.seq;
    await this.ctx.commits.enqueue(() => {
      this.ctx.acceptContext.audit.append('witness', witnessAuditData(statement));
    });
  }

  /** True when the charter in force on `channel` names this director. */
  private directs(member: MemberRecord, channel: string): boolean {
    const doc = this.ctx.store.latestTrustDocOf('charter', channel)?.doc as { charter?: { directors?: unknown } } | undefined;
    const directors = doc?.charter?.directors;
    return Array.isArray(directors) && directors.includes(member.kid);
  }

  /** A sender's chain on a channel this member belongs to: whole envelopes addressed to it, the signed parts of the others. */
  private chainItems(member: MemberRecord, msg: Extract<ClientMessage, { type: 'chain.get' }>): RelayMessage {
    const channel = this.ctx.store.getChannel(msg.channel);
    const party = channel !== null && (member.role === 'director' ? this.directs(member, msg.channel) : channel.states.includes(member.state));
    if (!party) throw new HotlineError('NOT_CHANNEL_MEMBER', `not a party to ${msg.channel}`);
    if (msg.last < msg.first || msg.last - msg.first >= CHAIN_PAGE) throw new HotlineError('BAD_INPUT', `ask for 1 to ${CHAIN_PAGE} links at a time`);
    if (!this.chainBucket.take(Date.now())) throw new HotlineError('RATE_LIMITED', `at most ${CHAIN_GETS_PER_SEC} chain.get per second`);
    const sent = this.ctx.store.chainRange(msg.from, msg.channel, msg.first, msg.last, CHAIN_ANSWER_BYTES);
    // The relay's chain is whole from 1 to its head: what lies beyond the head is missing. Fewer links than asked, and
    // nothing missing, means they did not fit: the asker asks again from the next one.
    const head = this.ctx.store.chainHead(msg.from, msg.channel)?.chanSeq ?? 0;
    const missing: number[] = [];
    for (let n = Math.max(msg.first, head + 1); n <= msg.last; n++) missing.push(n);
    const items = sent.map((r) => {
      const envelope = JSON.parse(r.envelopeJson) as Envelope;
      return {
        header: envelope.header,
        recipients: envelope.recipients,
        bodyHash: envelopeDigest(envelope).bodyHash,
        sig: envelope.sig,
        receipt: JSON.parse(r.receiptJson) as RelayReceipt,
        envelope: envelope.recipients.some((x) => x.kid === member.kid) ? envelope : null,
      };
    });
    return { type: 'chain', rid: msg.rid, items, missing };
  }

  /** Sends what `work` resolves to, or the error it fails with, under `rid`. */
  private reply(rid: string, work: Promise<RelayMessage>): void {
    work.then(
      (message) => this.send(message),
      (cause: unknown) => {
        const e = toHotlineError(cause);
        if (e.code === 'INTERNAL') this.ctx.logger.error({ err: cause, kid: this.kid }, 'request failed');
        this.fail(e.code, e.message, rid);
      },
    );
  }

  private authenticate(kid: string, sig: string): void {
    const member = this.ctx.store.getMember(kid);
    if (!member) throw new HotlineError('UNKNOWN_KEY');
    if (member.revokedAt !== null) throw new HotlineError('REVOKED_KEY');
    if (!verifyStatement(kid, sig, AUTH_CTX, { nonce: this.nonce, relay: this.ctx.identity.kid })) throw new HotlineError('AUTH_FAILED');
    if (member.role === 'reviewer') {
      this.fail('WRONG_ROLE', 'reviewers read timing records over HTTP (/v1/review), not the notice stream');
      this.close(4403, 'WRONG_ROLE');
      return;
    }
    this.member = member;
    this.ctx.clock.clearTimer(this.authTimer);
    this.send({
      type: 'welcome',
      kid,
      state: member.state,
      role: member.role,
      name: member.name,
      serverTime: this.ctx.clock.now(),
      channels: member.role === 'director' ? this.ctx.store.listChannels() : this.ctx.store.channelsOf(member.state),
      pending: this.ctx.store.pendingCount(kid),
    });
    this.ctx.onSessionStart(this);
  }
}
