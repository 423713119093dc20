// A protocol-level test peer: enrols with an invite, authenticates, sends raw frames and waits for typed replies.
import WebSocket from 'ws';
import {
  buildEnvelope,
  canonicalJson,
  createIdentity,
  createPrekey,
  relayMessageSchema,
  signStatement,
  uuidv7,
  type Content,
  type Envelope,
  type EnvelopeHeader,
  type Identity,
  type PrekeyPair,
  type RelayMessage,
  type Role,
} from '../../shared/index.ts';
import { adminCall } from './relay.ts';
import { currentRefs } from './trust.ts';
import type { RunningRelay } from '../../server/relay.ts';

type Msg<T extends RelayMessage['type']> = Extract<RelayMessage, { type: T }>;

export class RawPeer {
  readonly messages: RelayMessage[] = [];
  private waiters: { match: (m: RelayMessage) => boolean; resolve: (m: RelayMessage) => void }[] = [];
  private ws: WebSocket | null = null;
  closeCode: number | null = null;
  seq = 0;
  /** The relay this peer joined: its envelopes name the charter and rosters the trust helper installed there. */
  relayHttp: string | null = null;

  constructor(
    readonly identity: Identity,
    readonly prekey: PrekeyPair,
    readonly state: string,
    readonly role: Role,
  ) {}

  /** Invites (as admin) and joins a new identity under `state`. */
  static async enrol(relay: Pick<RunningRelay, 'httpUrl' | 'adminToken'>, state: string, role: Role = 'poc', name = `${state} ${role}`): Promise<RawPeer> {
    const identity = createIdentity();
    const prekey = createPrekey(identity, Date.now());
    const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state, role });
    const sig = signStatement(identity, 'hotline-join-v1', { invite, kid: identity.kid, name });
    const res = await fetch(`${relay.httpUrl}/v1/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ invite, kid: identity.kid, name, prekey: prekey.prekey, sig }),
    });
    if (res.status !== 201) throw new Error(`join failed: ${res.status} ${await res.text()}`);
    const peer = new RawPeer(identity, prekey, state, role);
    peer.relayHttp = relay.httpUrl;
    return peer;
  }

  /** Opens a socket and answers the challenge; resolves with the welcome (or the error that refused us). */
  async connect(url: string, signAs: Identity = this.identity): Promise<RelayMessage> {
    this.messages.length = 0;
    this.closeCode = null;
    const ws = new WebSocket(`${url}/v1/ws`);
    this.ws = ws;
    ws.on('message', (data) => {
      const msg = relayMessageSchema.parse(JSON.parse(data.toString()));
      this.messages.push(msg);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(msg)) return true;
        w.resolve(msg);
        return false;
      });
      if (msg.type === 'challenge') {
        const sig = signStatement(signAs, 'hotline-auth-v1', { nonce: msg.nonce, relay: msg.relay });
        ws.send(JSON.stringify({ type: 'auth', kid: this.identity.kid, sig }));
      }
    });
    ws.on('close', (code) => {
      this.closeCode = code;
    });
    return this.next((m) => m.type === 'welcome' || m.type === 'error');
  }

  get socket(): WebSocket {
    if (!this.ws) throw new Error('not connected');
    return this.ws;
  }

  sendRaw(frame: string | Buffer): void {
    this.socket.send(frame);
  }

  send(message: unknown): void {
    this.sendRaw(JSON.stringify(message));
  }

  /** Waits for the next message (already received ones included) that matches. */
  next(match: (m: RelayMessage) => boolean, timeoutMs = 5000): Promise<RelayMessage> {
    const found = this.messages.find(match);
    if (found) {
      this.messages.splice(this.messages.indexOf(found), 1);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a message; got ${this.messages.map((m) => m.type).join(',')}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          this.messages.splice(this.messages.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }

  reply<T extends 'accepted' | 'error' | 'keys' | 'ok' | 'pong'>(rid: string, timeoutMs = 5000): Promise<Msg<T> | Msg<'error'>> {
    return this.next((m) => 'rid' in m && m.rid === rid, timeoutMs) as Promise<Msg<T> | Msg<'error'>>;
  }

  /** Builds a signed envelope from this peer (seq auto-increments unless given). */
  envelope(to: RawPeer[], overrides: Partial<Omit<EnvelopeHeader, 'v' | 'from'>> = {}, text = 'test notice', content?: Content): Envelope {
    const toState = overrides.toState ?? to[0]?.state ?? 'CN';
    const channel = overrides.channel ?? [this.state, toState].sort().join('-');
    this.seq = overrides.seq ?? this.seq + 1;
    return buildEnvelope({
      sender: this.identity,
      header: {
        id: uuidv7(Date.now()),
        channel,
        kind: 'notice',
        fromState: this.state,
        toState,
        level: 'FLASH',
        drill: null,
        createdAt: Date.now(),
        refs: [],
        ...(this.relayHttp && currentRefs(this.relayHttp, channel) ? { trust: currentRefs(this.relayHttp, channel) } : {}),
        ...overrides,
        seq: this.seq,
      },
      content: content ?? { subject: null, text },
      recipients: to.map((p) => ({ kid: p.identity.kid, prekey: p.prekey.prekey })),
      now: Date.now(),
    });
  }

  async submit(envelope: Envelope, rid = envelope.header.id.slice(-12)): Promise<Msg<'accepted'> | Msg<'error'>> {
    this.send({ type: 'send', rid, envelope });
    return this.reply<'accepted'>(rid);
  }

  close(): void {
    this.ws?.close();
  }

  static canonical(e: Envelope): string {
    return canonicalJson(e);
  }
}
