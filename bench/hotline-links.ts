// Authenticated WebSocket connections to the Hotline relay (challenge → auth → welcome) and the per-pair load links over them.
import WebSocket from 'ws';
import { signStatement, type Identity } from '../shared/index.ts';
import { inBatches } from './hotline-relay.ts';
import { ConfirmBatcher, type LoadEvents, type LoadLink, type PeerConnections } from './links.ts';
import type { BenchPair } from './population.ts';
import { readFrame, type WireFrame } from './wire.ts';

export const AUTH_CTX = 'hotline-auth-v1';

/** Opens `${url}/v1/ws`, answers the challenge with `identity`, resolves after `welcome`; then every frame goes to `onFrame`. */
export function connectHotline(url: string, identity: Identity, onFrame: (frame: WireFrame) => void, timeoutMs = 15_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/v1/ws`, { perMessageDeflate: false });
    let authenticated = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`authentication of ${identity.kid.slice(0, 8)}… timed out`));
    }, timeoutMs);
    ws.on('message', (data: Buffer) => {
      const frame = readFrame(data.toString('utf8'));
      if (!frame) return;
      if (authenticated) return onFrame(frame);
      if (frame.type === 'challenge') {
        const sig = signStatement(identity, AUTH_CTX, { nonce: frame.nonce, relay: frame.relay });
        ws.send(JSON.stringify({ type: 'auth', kid: identity.kid, sig }));
      } else if (frame.type === 'welcome') {
        authenticated = true;
        clearTimeout(timer);
        resolve(ws);
      } else if (frame.type === 'error') {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`relay refused ${identity.kid.slice(0, 8)}…: ${frame.code} ${frame.message}`));
      }
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Closes sockets and waits (bounded) for them to be closed. */
export async function closeSockets(sockets: readonly WebSocket[], timeoutMs = 3000): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, timeoutMs);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close();
        }),
    ),
  );
}

/** Sender frames: `accepted` and `error` go to the load events. */
function senderFrameHandler(events: LoadEvents): (frame: WireFrame) => void {
  return (frame) => {
    if (frame.type === 'accepted') events.accepted(frame.rid);
    else if (frame.type === 'error') events.refused(frame.code, frame.rid);
  };
}

/** Connects every pair's sender and recipient; recipients confirm each delivery (batched per event-loop turn). */
export async function connectHotlinePairs(url: string, pairs: readonly BenchPair[], events: LoadEvents): Promise<PeerConnections> {
  const sockets: WebSocket[] = [];
  const byKey = new Map<string, LoadLink>();
  await inBatches(pairs, 10, async (p) => {
    let recipientSocket: WebSocket | null = null;
    const confirms = new ConfirmBatcher((frame) => recipientSocket?.send(frame));
    recipientSocket = await connectHotline(url, p.recipient.identity, (frame) => {
      if (frame.type === 'deliver') {
        events.delivered(frame.id);
        confirms.add(frame.id);
      } else if (frame.type === 'error') events.refused(frame.code, null);
    });
    const sender = await connectHotline(url, p.sender.identity, senderFrameHandler(events));
    sockets.push(recipientSocket, sender);
    byKey.set(p.key, { key: p.key, send: (frame) => sender.send(frame) });
  });
  const links = pairs.map((p) => byKey.get(p.key)).filter((l): l is LoadLink => l !== undefined);
  return { links, close: () => closeSockets(sockets) };
}
