// Worker thread that builds validly signed envelopes (buildEnvelope) ahead of a run and returns them as ready `send` frames.
import { parentPort, workerData } from 'node:worker_threads';
import { buildEnvelope, createIdentity, initCrypto, uuidv7 } from '../shared/index.ts';
import type { BuildTask, BuiltPool } from './envelope-pool.ts';

/** Plaintext of exactly `bytes` bytes once the content is encoded as canonical JSON. */
function noticeText(bytes: number): string {
  const overhead = '{"subject":null,"text":""}'.length;
  return 'N'.repeat(Math.max(1, bytes - overhead));
}

function build(task: BuildTask): BuiltPool {
  const sender = createIdentity(Uint8Array.from(task.senderSeed));
  const text = noticeText(task.plaintextBytes);
  const frames: string[] = [];
  const ids: string[] = [];
  for (let i = 0; i < task.count; i++) {
    const now = Date.now();
    const envelope = buildEnvelope({
      sender,
      header: {
        id: uuidv7(now),
        channel: task.channel,
        kind: 'notice',
        fromState: task.fromState,
        toState: task.toState,
        level: task.level,
        drill: null,
        seq: i + 1,
        createdAt: now,
        refs: [],
        trust: task.trust,
      },
      content: { subject: null, text },
      recipients: [{ kid: task.recipientKid, prekey: task.recipientPrekey }],
      now,
    });
    // rid = envelope id: the sender matches `accepted` frames to sends without a second map.
    frames.push(JSON.stringify({ type: 'send', rid: envelope.header.id, envelope }));
    ids.push(envelope.header.id);
    if ((i + 1) % 100 === 0) parentPort?.postMessage({ type: 'progress', built: 100 });
  }
  parentPort?.postMessage({ type: 'progress', built: task.count % 100 });
  return { key: task.key, frames, ids };
}

async function main(): Promise<void> {
  await initCrypto();
  const tasks = workerData as BuildTask[];
  for (const task of tasks) parentPort?.postMessage({ type: 'pool', pool: build(task) });
  parentPort?.postMessage({ type: 'done' });
}

void main();
