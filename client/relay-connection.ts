// One authenticated WebSocket link to one relay: challenge–response, requests by rid, reconnect with backoff; wss:// verified.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  errorCodes,
  HotlineError,
  isErrorCode,
  relayMessageSchema,
  signStatement,
  type Identity,
  type RelayMessage,
} from '../shared/index.ts';

type Welcome = Extract<RelayMessage, { type: 'welcome' }>;
type Deliver = Extract<RelayMessage, { type: 'deliver' }>;
type RelayEvent = Extract<RelayMessage, { type: 'event' }>;

export interface RelayConnectionEvents {
  welcome: [Welcome];
  deliver: [Deliver];
  event: [RelayEvent];
  /** The link dropped; `willRetry` tells whether a reconnect is scheduled. */
  down: [{ code: number; reason: string; willRetry: boolean }];
  /** An error frame without a request id (or a refusal at auth). */
  refused: [HotlineError];
}

/** How wss:// (and https://) relays are verified. The certificate is always checked; there is no way to turn that off. */
export interface RelayTlsOptions {
  /** CA certificate(s), PEM, trusted instead of the system's roots (a relay with a certificate from a private CA). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
}

/** `tls.ca` as node:tls takes it (a mutable array), or nothing when the system's roots are to be used. */
export function caOption(tls: RelayTlsOptions | undefined): { ca?: string | Buffer | (string | Buffer)[] } {
  const ca = tls?.ca;
  if (ca === undefined) return {};
  return { ca: typeof ca === 'string' || Buffer.isBuffer(ca) ? ca : [...ca] };
}

/** OpenSSL's verdicts on a certificate chain this client does not trust (as Node reports them in `err.code`). */
const UNTRUSTED_CERT = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'INVALID_CA',
  'CERT_CHAIN_TOO_LONG',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A failed connection to a relay as a HotlineError: TLS_UNTRUSTED (naming --ca) when the relay's certificate is not
 * trusted, is for another name or is out of date; RELAY_UNREACHABLE with the reason otherwise.
 * @example ws.on('error', (err) => reject(relayConnectFailure(url, err)));
 */
export function relayConnectFailure(url: string, err: unknown): HotlineError {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new HotlineError('TLS_UNTRUSTED', `the certificate of the relay at ${url} is not for this host name (${message}); use a name the certificate lists`, { cause: err });
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return new HotlineError('TLS_UNTRUSTED', `the certificate of the relay at ${url} is out of date (${code}): the operator must renew it`, { cause: err });
  }
  if (UNTRUSTED_CERT.has(code)) {
    return new HotlineError(
      'TLS_UNTRUSTED',
      `the relay at ${url} presented a certificate this client does not trust (${code}); ${errorCodes.TLS_UNTRUSTED.hint}`,
      { cause: err },
    );
  }
  if (/^wss:|^https:/.test(url) && (code === 'EPROTO' || /wrong version number|packet length too long/i.test(message))) {
    return new HotlineError('RELAY_UNREACHABLE', `the relay at ${url} does not speak TLS on this port (${code || message}); check the URL's scheme (ws:// or wss://)`, { cause: err });
  }
  return new HotlineError('RELAY_UNREACHABLE', `cannot reach the relay at ${url} (${code || message})`, { cause: err });
}

export interface RelayConnectionOptions {
  readonly url: string;
  readonly identity: Identity;
  /** Pinned relay key id; a relay presenting another key is refused. Null: accept and report it (first contact). */
  readonly relayKid: string | null;
  readonly reconnect: boolean;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Certificate verification for a wss:// relay (a private CA). */
  readonly tls?: RelayTlsOptions;
}

interface PendingRequest {
  resolve: (m: RelayMessage) => void;
  reject: (e: HotlineError) => void;
  timer: NodeJS.Timeout;
}

const AUTH_REFUSALS = new Set(['UNKNOWN_KEY', 'REVOKED_KEY', 'AUTH_FAILED', 'WRONG_ROLE']);

export class RelayConnection extends EventEmitter<RelayConnectionEvents> {
  private ws: WebSocket | null = null;
  private welcome: Welcome | null = null;
  private pending = new Map<string, PendingRequest>();
  private ridCounter = 0;
  private attempt = 0;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  relayKid: string | null;

  constructor(private readonly options: RelayConnectionOptions) {
    super();
    this.relayKid = options.relayKid;
  }

  get url(): string {
    return this.options.url;
  }

  get ready(): boolean {
    return this.welcome !== null && this.ws?.readyState === WebSocket.OPEN;
  }

  get session(): Welcome | null {
    return this.welcome;
  }

  /** Connects and authenticates; rejects with RELAY_UNREACHABLE, TIMEOUT or the relay's refusal code. */
  open(): Promise<Welcome> {
    this.stopped = false;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.options.url.replace(/\/$/, '')}/v1/ws`, {
        handshakeTimeout: this.options.connectTimeoutMs ?? 5000,
        ...caOption(this.options.tls),
      });
      this.ws = ws;
      let settled = false;
      const settle = (error: HotlineError | null, welcome?: Welcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else if (welcome) resolve(welcome);
      };
      const timer = setTimeout(() => {
        settle(new HotlineError('TIMEOUT', `relay ${this.options.url} did not complete authentication in time`));
        ws.terminate();
      }, this.options.connectTimeoutMs ?? 5000);
      ws.on('message', (data) => {
        let msg: RelayMessage;
        try {
          msg = relayMessageSchema.parse(JSON.parse(data.toString()));
        } catch {
          return; // a frame we do not understand is ignored, never trusted
        }
        if (msg.type === 'challenge') {
          if (this.relayKid !== null && msg.relay !== this.relayKid) {
            settle(new HotlineError('BAD_SIGNATURE', `relay at ${this.options.url} presented key ${msg.relay.slice(0, 10)}…, not the pinned ${this.relayKid.slice(0, 10)}…`));
            this.stopped = true;
            ws.close(1000);
            return;
          }
          this.relayKid = msg.relay;
          const sig = signStatement(this.options.identity, 'hotline-auth-v1', { nonce: msg.nonce, relay: msg.relay });
          ws.send(JSON.stringify({ type: 'auth', kid: this.options.identity.kid, sig }));
          return;
        }
        if (msg.type === 'welcome') {
          this.welcome = msg;
          this.attempt = 0;
          settle(null, msg);
          this.emit('welcome', msg);
          return;
        }
        this.dispatch(msg, (error) => {
          if (!this.welcome && AUTH_REFUSALS.has(error.code)) {
            this.stopped = true;
            settle(error);
          } else this.emit('refused', error);
        });
      });
      ws.on('error', (err) => {
        settle(relayConnectFailure(this.options.url, err));
      });
      ws.on('close', (code, reasonBuf) => {
        const reason = reasonBuf.toString();
        const wasUp = this.welcome !== null;
        this.welcome = null;
        this.ws = null;
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new HotlineError('RELAY_UNREACHABLE', `connection to ${this.options.url} closed before the relay answered`));
        }
        this.pending.clear();
        settle(new HotlineError(isErrorCode(reason) ? reason : 'RELAY_UNREACHABLE', `relay at ${this.options.url} closed the connection (${code}${reason ? ` ${reason}` : ''})`));
        const willRetry = this.options.reconnect && !this.stopped && !AUTH_REFUSALS.has(reason);
        if (wasUp || willRetry) this.emit('down', { code, reason, willRetry });
        if (willRetry) this.scheduleReconnect();
      });
    });
  }

  private scheduleReconnect(): void {
    if (this.retryTimer) return;
    const base = Math.min(10_000, 250 * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      this.open().catch(() => {
        // the close handler schedules the next attempt
      });
    }, delay);
  }

  private dispatch(msg: RelayMessage, onUnmatchedError: (e: HotlineError) => void): void {
    if ('rid' in msg && msg.rid !== null) {
      const p = this.pending.get(msg.rid);
      if (p) {
        this.pending.delete(msg.rid);
        clearTimeout(p.timer);
        // The detail travels on (CHAIN_BROKEN names the relay's chain head, which the client resyncs from).
        if (msg.type === 'error') p.reject(new HotlineError(msg.code, msg.message, msg.detail ? { detail: msg.detail } : undefined));
        else p.resolve(msg);
        return;
      }
    }
    switch (msg.type) {
      case 'deliver':
        this.emit('deliver', msg);
        return;
      case 'event':
        this.emit('event', msg);
        return;
      case 'error':
        onUnmatchedError(new HotlineError(msg.code, msg.message));
        return;
      default:
        return;
    }
  }

  /** Sends a request carrying a fresh rid and resolves with the relay's answer to it. */
  request<T extends RelayMessage>(message: Record<string, unknown>): Promise<T> {
    const ws = this.ws;
    if (!ws || !this.ready) return Promise.reject(new HotlineError('RELAY_UNREACHABLE', `not connected to ${this.options.url}`));
    const rid = `r${++this.ridCounter}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new HotlineError('TIMEOUT', `relay ${this.options.url} did not answer in time`));
      }, this.options.requestTimeoutMs ?? 10_000);
      this.pending.set(rid, { resolve: resolve as (m: RelayMessage) => void, reject, timer });
      ws.send(JSON.stringify({ ...message, rid }));
    });
  }

  /** Fire-and-forget frame (delivery confirmations). */
  post(message: Record<string, unknown>): boolean {
    if (!this.ws || !this.ready) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  close(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.ws?.close(1000, 'client closing');
  }
}
