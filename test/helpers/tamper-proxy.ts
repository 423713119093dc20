// A hostile relay for tests: a WebSocket front on 127.0.0.1 between clients and the real relay that can rewrite,
// drop and inject frames in either direction. Given the relay's identity, it signs receipts as the relay would.
import { WebSocketServer, WebSocket, type RawData } from 'ws';

export type Frame = Record<string, unknown>;
/** Returns the frame to pass on (the same, rewritten) or null to drop it. */
export type FrameHook = (frame: Frame, link: TamperLink) => Frame | null;

export interface TamperLink {
  /** The key id the client authenticated with (null before its auth frame). */
  kid: string | null;
  /** Sends a frame to the client as if the relay had sent it. */
  toClient(frame: Frame): void;
}

export interface TamperProxy {
  readonly url: string;
  readonly links: readonly TamperLink[];
  toClient: FrameHook;
  toRelay: FrameHook;
  close(): Promise<void>;
}

export async function startTamperProxy(relayUrl: string): Promise<TamperProxy> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const links: TamperLink[] = [];
  const proxy: TamperProxy = {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
    links,
    toClient: (f) => f,
    toRelay: (f) => f,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (client, req) => {
    const upstream = new WebSocket(`${relayUrl}${req.url ?? '/v1/ws'}`);
    const early: string[] = [];
    const link: TamperLink = { kid: null, toClient: (f) => client.readyState === client.OPEN && client.send(JSON.stringify(f)) };
    links.push(link);
    const parse = (d: RawData): Frame => JSON.parse(d.toString()) as Frame;
    upstream.on('message', (d) => {
      const out = proxy.toClient(parse(d), link);
      if (out) link.toClient(out);
    });
    client.on('message', (d) => {
      const frame = parse(d);
      if (frame.type === 'auth' && typeof frame.kid === 'string') link.kid = frame.kid;
      const out = proxy.toRelay(frame, link);
      if (!out) return;
      if (upstream.readyState === upstream.OPEN) upstream.send(JSON.stringify(out));
      else early.push(JSON.stringify(out));
    });
    upstream.on('open', () => {
      for (const f of early.splice(0)) upstream.send(f);
    });
    upstream.on('close', () => client.close());
    client.on('close', () => upstream.close());
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
  });
  return proxy;
}
