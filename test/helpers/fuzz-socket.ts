// A lenient relay client for fuzzing: sends raw frames, hands back each reply in order, and records relay frames that break the relay's own schema.
import WebSocket from 'ws';
import {
  canonicalBytes,
  fromB64u,
  hash,
  relayMessageSchema,
  sign,
  signStatement,
  toB64u,
  type Envelope,
  type Identity,
} from '../../shared/index.ts';

/** A relay frame as a fuzzer sees it: loosely typed on purpose, since whether it is well-formed is what we check. */
export interface RelayFrame {
  /** The frame's `type`, or `closed` when the socket closed before another frame came. */
  readonly type: string;
  readonly rid: unknown;
  readonly code: string | null;
  readonly message: string | null;
  readonly closeCode: number | null;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Frames that are not replies to what we sent: pushed deliveries, relay events, the challenge. */
const pushedTypes = new Set(['deliver', 'event', 'challenge']);

export class FuzzSocket {
  /** Relay frames that did not match relayMessageSchema, truncated, for the report. */
  readonly violations: string[] = [];
  closeCode: number | null = null;
  nonce = '';
  relayKid = '';
  private readonly inbox: RelayFrame[] = [];
  private waiter: ((frame: RelayFrame) => void) | null = null;

  private constructor(private readonly ws: WebSocket) {}

  /** Opens a socket to the relay and waits for its challenge. */
  static open(url: string, timeoutMs = 5000): Promise<FuzzSocket> {
    const ws = new WebSocket(`${url}/v1/ws`);
    const socket = new FuzzSocket(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no challenge from the relay')), timeoutMs);
      ws.on('error', (err) => reject(err));
      ws.on('close', (code) => socket.onClose(code));
      ws.on('message', (data, isBinary) => {
        const frame = socket.onMessage(data.toString(), isBinary);
        if (frame?.type === 'challenge') {
          socket.nonce = String(frame.fields.nonce);
          socket.relayKid = String(frame.fields.relay);
          clearTimeout(timer);
          resolve(socket);
        }
      });
    });
  }

  /** Answers the challenge as `kid`, signing with `signer` (another identity makes the signature wrong); returns the reply. */
  authenticate(kid: string, signer: Identity): Promise<RelayFrame> {
    const sig = signStatement(signer, 'hotline-auth-v1', { nonce: this.nonce, relay: this.relayKid });
    return this.request(JSON.stringify({ type: 'auth', kid, sig }));
  }

  /** Sends one frame and waits for the relay's reply to it (the next frame that is not pushed). */
  request(frame: string | Buffer, binary = false, timeoutMs = 5000): Promise<RelayFrame> {
    this.send(frame, binary);
    return this.nextReply(timeoutMs);
  }

  send(frame: string | Buffer, binary = false): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(frame, { binary });
  }

  /** The next reply; a `closed` pseudo-frame once the socket is closed and nothing is left. */
  nextReply(timeoutMs = 5000): Promise<RelayFrame> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closeCode !== null) return Promise.resolve(this.closedFrame());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`relay did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (frame) => {
        clearTimeout(timer);
        this.waiter = null;
        resolve(frame);
      };
    });
  }

  /** Resolves with the close code once the socket is closed. */
  async closed(timeoutMs = 5000): Promise<number> {
    const frame = await this.nextReply(timeoutMs);
    if (frame.type !== 'closed') throw new Error(`expected the socket to close, got ${frame.type} ${frame.code ?? ''}`);
    return frame.closeCode ?? 0;
  }

  close(): void {
    this.ws.close();
  }

  private closedFrame(): RelayFrame {
    return { type: 'closed', rid: null, code: null, message: null, closeCode: this.closeCode, fields: {} };
  }

  private onClose(code: number): void {
    this.closeCode = code;
    this.waiter?.(this.closedFrame());
  }

  private onMessage(text: string, isBinary: boolean): RelayFrame | null {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.violations.push(`not JSON: ${text.slice(0, 200)}`);
      return null;
    }
    if (isBinary || !relayMessageSchema.safeParse(json).success) this.violations.push(text.slice(0, 200));
    const fields = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
    const frame: RelayFrame = {
      type: typeof fields.type === 'string' ? fields.type : '?',
      rid: 'rid' in fields ? fields.rid : undefined,
      code: typeof fields.code === 'string' ? fields.code : null,
      message: typeof fields.message === 'string' ? fields.message : null,
      closeCode: null,
      fields,
    };
    if (pushedTypes.has(frame.type)) return frame;
    if (this.waiter) this.waiter(frame);
    else this.inbox.push(frame);
    return frame;
  }
}

/**
 * Signs `envelope` again as `signer`, over whatever its header and recipients now say: a well-signed
 * envelope that breaks a protocol rule, instead of one the signature check would catch first.
 */
export function resignEnvelope(envelope: Envelope, signer: Identity): Envelope {
  const bodyHash = toB64u(hash(fromB64u(envelope.body)));
  const signed = canonicalBytes({ ctx: 'hotline-envelope-v1', header: envelope.header, recipients: envelope.recipients, bodyHash });
  return { ...envelope, sig: toB64u(sign(signed, signer.keys.secretKey)) };
}
