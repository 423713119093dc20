// The cheapest sockets that load a relay: authenticated WebSockets that then stay idle, and raw upgrade requests that never authenticate.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { signStatement, type Identity } from '../../shared/index.ts';

/** Opens /v1/ws, answers the challenge as `identity` and resolves at the welcome; rejects on refusal, error or timeout. */
export function openIdleSocket(url: string, identity: Identity, timeoutMs = 15_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/v1/ws`, { perMessageDeflate: false });
    const fail = (error: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no welcome within ${timeoutMs} ms`)), timeoutMs);
    ws.on('error', (err) => fail(err));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type?: string; nonce?: string; relay?: string; code?: string };
      if (msg.type === 'challenge') {
        const sig = signStatement(identity, 'hotline-auth-v1', { nonce: msg.nonce, relay: msg.relay });
        ws.send(JSON.stringify({ type: 'auth', kid: identity.kid, sig }));
      } else if (msg.type === 'welcome') {
        clearTimeout(timer);
        resolve(ws);
      } else if (msg.type === 'error') {
        fail(new Error(`refused: ${msg.code ?? '?'}`));
      }
    });
  });
}

export interface UnauthenticatedSocket {
  /** HTTP status of the upgrade answer: 101 when the relay took the connection, 503 when it refused it. */
  readonly status: number;
  /** Everything the relay sent after the HTTP head (WebSocket frames, unmasked: JSON text is readable). */
  received(): string;
  /** Resolves true once `text` has been received, false when `timeoutMs` passes or the connection closes first. */
  receives(text: string, timeoutMs: number): Promise<boolean>;
  /** Resolves when the relay (or anyone) closed the TCP connection. */
  readonly closed: Promise<void>;
  destroy(): void;
}

/** A WebSocket upgrade by hand, then silence: never authenticates, never answers a close frame. */
export function openUnauthenticatedSocket(port: number, timeoutMs = 15_000): Promise<UnauthenticatedSocket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    let status = 0;
    const watchers = new Set<() => void>();
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no upgrade answer in time'));
    }, timeoutMs);
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(
        `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const answer = (code: number) => {
      clearTimeout(timer);
      resolve({
        status: code,
        received: () => buffer.toString('latin1'),
        receives: (text, waitMs) =>
          new Promise<boolean>((done) => {
            const check = () => {
              if (!buffer.includes(text)) return;
              finish(true);
            };
            const finish = (seen: boolean) => {
              clearTimeout(giveUp);
              watchers.delete(check);
              done(seen);
            };
            const giveUp = setTimeout(() => finish(buffer.includes(text)), waitMs);
            watchers.add(check);
            void closed.then(() => finish(buffer.includes(text)));
            check();
          }),
        closed,
        destroy: () => socket.destroy(),
      });
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (const check of [...watchers]) check();
      if (status === 0) {
        const head = /^HTTP\/1\.1 (\d{3})/.exec(buffer.toString('latin1'));
        if (head) {
          status = Number(head[1]);
          answer(status);
        }
      }
    });
    // Closed before any answer (e.g. reset under load): report it as status 0.
    void closed.then(() => {
      if (status === 0) answer(0);
    });
  });
}
