// The bare relay's process (bench/bare-relay.ts via tsx) and the per-pair load links to it: same frames as Hotline, no auth.
import { join } from 'node:path';
import WebSocket from 'ws';
import { spawnChild, waitForLine, type ManagedChild } from './children.ts';
import { closeSockets } from './hotline-links.ts';
import { inBatches, projectRoot } from './hotline-relay.ts';
import { ConfirmBatcher, type LoadEvents, type LoadLink, type PeerConnections } from './links.ts';
import type { BenchPair } from './population.ts';
import { readFrame } from './wire.ts';

export interface BareRelay {
  readonly url: string;
  readonly child: ManagedChild;
  stop(): Promise<void>;
}

export async function startBareRelay(): Promise<BareRelay> {
  const child = spawnChild({
    name: 'bare relay',
    command: process.execPath,
    args: ['--import', import.meta.resolve('tsx'), join(projectRoot, 'bench/bare-relay.ts')],
    cwd: projectRoot,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const ready = await waitForLine(
    child,
    (line) => {
      if (!line.startsWith('{')) return null;
      const value = JSON.parse(line) as { url?: unknown };
      return typeof value.url === 'string' ? value.url : null;
    },
    30_000,
  );
  return { url: ready, child, stop: () => child.stop() };
}

function openSocket(url: string, kid: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/?kid=${encodeURIComponent(kid)}`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

export async function connectBarePairs(url: string, pairs: readonly BenchPair[], events: LoadEvents): Promise<PeerConnections> {
  const sockets: WebSocket[] = [];
  const byKey = new Map<string, LoadLink>();
  await inBatches(pairs, 10, async (p) => {
    const recipient = await openSocket(url, p.recipient.identity.kid);
    const confirms = new ConfirmBatcher((frame) => recipient.send(frame));
    recipient.on('message', (data: Buffer) => {
      const frame = readFrame(data.toString('utf8'));
      if (frame?.type === 'deliver') {
        events.delivered(frame.id);
        confirms.add(frame.id);
      }
    });
    const sender = await openSocket(url, p.sender.identity.kid);
    sender.on('message', (data: Buffer) => {
      const frame = readFrame(data.toString('utf8'));
      if (frame?.type === 'accepted') events.accepted(frame.rid);
    });
    sockets.push(recipient, sender);
    byKey.set(p.key, { key: p.key, send: (frame) => sender.send(frame) });
  });
  const links = pairs.map((p) => byKey.get(p.key)).filter((l): l is LoadLink => l !== undefined);
  return { links, close: () => closeSockets(sockets) };
}
