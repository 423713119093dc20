// Mosquitto as a comparison peer: found on this machine (or skipped with an install hint), started on a loopback port, QoS 1 links.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { makeTempDir, removeTempDir, spawnChild, type ManagedChild } from './children.ts';
import { inBatches } from './hotline-relay.ts';
import type { LoadEvents, LoadLink, PeerConnections } from './links.ts';
import type { BenchPair } from './population.ts';
import { envelopeIdOf } from './wire.ts';

export const mosquittoInstallHint = 'apt-get update && apt-get install -y mosquitto   (Debian/Ubuntu; the binary lands in /usr/sbin)';

/** The mosquitto binary on PATH or in the sbin dirs Debian uses; null when it is not installed. */
export function findMosquitto(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, 'mosquitto'))) return join(dir, 'mosquitto');
  }
  return null;
}

export interface Mosquitto {
  readonly url: string;
  readonly child: ManagedChild;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ManagedChild, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  while (performance.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`mosquitto exited (code ${exitCode}): ${child.stderrTail.join(' | ')}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${timeoutMs} ms: ${child.stderrTail.join(' | ')}`);
}

/** The settings the comparison depends on; see docs/PERFORMANCE.md. */
function configText(port: number, persistenceDir: string): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${persistenceDir}/`,
    // The default: the in-memory store is written to disk every 30 minutes and at exit, never per message.
    'autosave_interval 1800',
    'max_queued_messages 100000',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    // As root, mosquitto would switch to the `mosquitto` user and could not write the temp persistence dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    '',
  ].join('\n');
}

export async function startMosquitto(binary: string): Promise<Mosquitto> {
  const dir = makeTempDir('mosquitto');
  const persistenceDir = join(dir, 'data');
  mkdirSync(persistenceDir);
  const port = await freePort();
  const configPath = join(dir, 'mosquitto.conf');
  writeFileSync(configPath, configText(port, persistenceDir));
  const child = spawnChild({ name: 'mosquitto', command: binary, args: ['-c', configPath] });
  await waitForPort(port, child, 10_000);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    child,
    stop: async () => {
      await child.stop();
      removeTempDir(dir);
    },
  };
}

function topicOf(p: BenchPair): string {
  return `hotline-bench/${p.key}`;
}

/** Senders publish the same `send` frames at QoS 1 (PUBACK = accepted); recipients hold persistent sessions (clean=false). */
export async function connectMqttPairs(url: string, pairs: readonly BenchPair[], events: LoadEvents): Promise<PeerConnections> {
  const clients: MqttClient[] = [];
  const byKey = new Map<string, LoadLink>();
  await inBatches(pairs, 10, async (p) => {
    const recipient = await connectAsync(url, { clientId: `r-${p.key}`, clean: false, reconnectPeriod: 0 });
    recipient.on('message', (_topic: string, payload: Buffer) => {
      let raw: unknown;
      try {
        raw = JSON.parse(payload.toString('utf8'));
      } catch {
        return;
      }
      const id = typeof raw === 'object' && raw !== null ? envelopeIdOf(raw as Record<string, unknown>) : null;
      if (id !== null) events.delivered(id);
    });
    await recipient.subscribeAsync(topicOf(p), { qos: 1 });
    const sender = await connectAsync(url, { clientId: `s-${p.key}`, clean: true, reconnectPeriod: 0 });
    clients.push(recipient, sender);
    const topic = topicOf(p);
    byKey.set(p.key, {
      key: p.key,
      send: (frame, id) => {
        sender.publish(topic, frame, { qos: 1 }, (err) => (err ? events.refused(err.message, id) : events.accepted(id)));
      },
    });
  });
  const links = pairs.map((p) => byKey.get(p.key)).filter((l): l is LoadLink => l !== undefined);
  return {
    links,
    close: async () => {
      await Promise.all(clients.map((c) => c.endAsync(true)));
    },
  };
}
