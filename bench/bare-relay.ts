// A bare ws fan-out relay run as its own process for comparison: Hotline's frames routed to recipients, no auth, schema, crypto or disk.
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const socketsByKid = new Map<string, Set<WebSocket>>();

function kidOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('kid') ?? '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Recipient kids of a `send` frame's envelope. */
function recipientKids(envelope: Record<string, unknown>): string[] {
  const recipients = Array.isArray(envelope.recipients) ? (envelope.recipients as unknown[]) : [];
  return recipients.flatMap((r) => (isRecord(r) && typeof r.kid === 'string' ? [r.kid] : []));
}

function route(sender: WebSocket, text: string): void {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  if (!isRecord(message) || message.type !== 'send' || !isRecord(message.envelope)) return; // `confirm` frames need nothing
  const deliver = `{"type":"deliver","envelope":${JSON.stringify(message.envelope)},"receipt":null}`;
  for (const kid of recipientKids(message.envelope)) {
    for (const ws of socketsByKid.get(kid) ?? []) ws.send(deliver);
  }
  sender.send(JSON.stringify({ type: 'accepted', rid: message.rid, receipt: null }));
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1024 * 1024 });

wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
  const kid = kidOf(req);
  let set = socketsByKid.get(kid);
  if (!set) socketsByKid.set(kid, (set = new Set()));
  set.add(ws);
  ws.on('message', (data: Buffer) => route(ws, data.toString('utf8')));
  ws.on('close', () => set.delete(ws));
  ws.on('error', () => ws.terminate());
});

wss.on('listening', () => {
  const address = wss.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  console.log(JSON.stringify({ url: `ws://127.0.0.1:${port}` }));
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => process.exit(0));
  });
}
