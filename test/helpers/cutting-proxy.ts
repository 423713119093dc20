// A TCP proxy on 127.0.0.1 that cuts connections at random byte offsets (mid-frame), a bounded number of times, then passes traffic through.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { randomInt } from './seeded-random.ts';

export interface CuttingProxyOptions {
  readonly targetPort: number;
  /** Seeded random numbers in [0, 1): where each connection is cut. */
  readonly random: () => number;
  /** Connections cut at most; later connections pass through untouched, so a test always ends. */
  readonly maxCuts: number;
  /** A connection is cut after a random count of bytes (both directions together) in [minBytes, maxBytes]. */
  readonly minBytes: number;
  readonly maxBytes: number;
}

export interface CuttingProxy {
  readonly port: number;
  /** ws:// URL of the proxy, to give a client instead of the relay's. */
  readonly url: string;
  /** Connections cut so far. */
  cuts(): number;
  close(): Promise<void>;
}

export async function startCuttingProxy(options: CuttingProxyOptions): Promise<CuttingProxy> {
  let cuts = 0;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server: Server = createServer((client) => {
    track(client);
    const upstream = connect({ host: '127.0.0.1', port: options.targetPort });
    track(upstream);
    const cutHere = cuts < options.maxCuts;
    if (cutHere) cuts++;
    const budget = cutHere ? randomInt(options.random, options.minBytes, options.maxBytes) : Infinity;
    let passed = 0;
    let cut = false;
    const cutBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    const pipe = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (cut) return;
        if (passed + chunk.length <= budget) {
          passed += chunk.length;
          if (!to.write(chunk)) {
            from.pause();
            to.once('drain', () => from.resume());
          }
          return;
        }
        // Forward exactly up to the budget, so the cut falls inside a frame, then drop both sides.
        cut = true;
        const part = chunk.subarray(0, budget - passed);
        passed = budget;
        if (part.length > 0) to.write(part, cutBoth);
        else cutBoth();
      });
      from.on('end', () => to.end());
      from.on('close', () => to.destroy());
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    cuts: () => cuts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
