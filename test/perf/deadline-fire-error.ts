// Measures escalation fire error (firedAt − due) with 10^4 pending FLASH deadlines while notices keep being accepted; run with `npx tsx test/perf/deadline-fire-error.ts` (not part of npm test).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildEnvelope, initCrypto, uuidv7, type Envelope, type RelayMessage } from '../../shared/index.ts';
import { startRelay } from '../../server/relay.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, tempDir } from '../helpers/relay.ts';
import { chartered, currentRefs } from '../helpers/trust.ts';

const PRELOAD = Number(process.env.PRELOAD ?? 10_000);
const RATE = Number(process.env.RATE ?? 500);
const FLASH_MS = Number(process.env.FLASH_MS ?? 15_000);
const SENDERS = 4;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** The load generator (a child process, so building envelopes does not run on the relay's event loop). */
async function generate(httpUrl: string, adminToken: string, url: string): Promise<void> {
  await initCrypto();
  const relay = { httpUrl, adminToken };
  const cn = await RawPeer.enrol(relay, 'CN');
  const alternate = await RawPeer.enrol(relay, 'CN', 'alternate');
  const senders = await Promise.all(Array.from({ length: SENDERS }, () => RawPeer.enrol(relay, 'US')));
  // The charter (its FLASH deadline is the one the channel was opened with) and the rosters of everyone here.
  await chartered(relay, 'CN-US', [cn, alternate, ...senders], { deadlines: { FLASH: FLASH_MS } });
  const trust = currentRefs(httpUrl, 'CN-US');
  for (const s of senders) await s.connect(url);
  let accepted = 0;
  let refused = 0;
  for (const s of senders) {
    s.socket.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as RelayMessage;
      if (msg.type === 'accepted') accepted++;
      else if (msg.type === 'error') refused++;
    });
  }
  const build = (sender: RawPeer): Envelope => {
    sender.seq++;
    return buildEnvelope({
      sender: sender.identity,
      header: { id: uuidv7(Date.now()), channel: 'CN-US', kind: 'notice', fromState: 'US', toState: 'CN', level: 'FLASH', drill: null, seq: sender.seq, createdAt: Date.now(), refs: [], trust },
      content: { subject: null, text: 'load' },
      recipients: [{ kid: cn.identity.kid, prekey: cn.prekey.prekey }],
      now: Date.now(),
    });
  };
  let sent = 0;
  const send = (): void => {
    const sender = senders[sent % SENDERS] as RawPeer;
    sender.send({ type: 'send', rid: `r${sent}`, envelope: build(sender) });
    sent++;
  };
  const preloadStart = Date.now();
  while (sent < PRELOAD) {
    for (let i = 0; i < 100 && sent < PRELOAD; i++) send();
    // Keep the relay's per-connection buffers small: wait until most of what was sent is answered.
    while (sent - accepted - refused > 1_000) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  while (accepted + refused < sent) await new Promise((resolve) => setTimeout(resolve, 5));
  const preloadMs = Date.now() - preloadStart;
  process.stdout.write(`${JSON.stringify({ phase: 'preloaded', sent, accepted, refused, preloadMs })}\n`);
  // Steady load through the whole firing of the preloaded deadlines (1.0× to 1.5× of FLASH_MS after them).
  const steadyUntil = preloadStart + Math.ceil(1.5 * FLASH_MS) + preloadMs + 1_000;
  const steadyStart = Date.now();
  const steadySent = sent;
  while (Date.now() < steadyUntil) {
    const target = steadySent + Math.floor(((Date.now() - steadyStart) / 1000) * RATE);
    while (sent < target) send();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  while (accepted + refused < sent) await new Promise((resolve) => setTimeout(resolve, 5));
  process.stdout.write(`${JSON.stringify({ phase: 'done', sent, accepted, refused, steadyRate: Math.round(((sent - steadySent) * 1000) / (Date.now() - steadyStart)) })}\n`);
  for (const s of senders) s.close();
}

async function measure(): Promise<void> {
  const dataDir = tempDir('fire-error');
  const relay = await startRelay({
    logger: pino({ level: 'warn' }),
    config: { port: 0, dataDir, limits: { ratePerSec: 100_000, rateBurst: 100_000, pendingCap: 1_000_000 } },
  });
  try {
    await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH: FLASH_MS } });
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'generate', relay.httpUrl, relay.adminToken, relay.url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let maxInMemory = 0;
    const sampler = setInterval(() => {
      maxInMemory = Math.max(maxInMemory, relay.deadlines.inMemory);
    }, 100);
    child.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    await new Promise((resolve) => child.once('exit', resolve));
    clearInterval(sampler);
    // Steps of the steady-load notices that were still to fire are left out: only what fired under load counts.
    const fired = relay.store
      .auditEvents(1, 10_000_000)
      .filter((e) => e.type === 'deadline.overdue' || e.type.startsWith('escalation.'))
      .map((e) => (e.data.firedAt as number) - (e.data.due as number))
      .sort((a, b) => a - b);
    const accepted = (relay.store.db.prepare(`SELECT COUNT(*) AS n FROM envelopes`).get() as { n: number }).n;
    const histogram = (await relay.context.metrics.deadlineFireError.get()).values;
    const count = histogram.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    console.log(
      JSON.stringify({
        notices: accepted,
        preloadedDeadlines: PRELOAD,
        flashMs: FLASH_MS,
        steadyRatePerSec: RATE,
        stepsFired: fired.length,
        histogramCount: count,
        maxStepsInMemory: maxInMemory,
        fireErrorMs: { p50: percentile(fired, 50), p90: percentile(fired, 90), p99: percentile(fired, 99), max: fired[fired.length - 1] ?? NaN },
      }),
    );
  } finally {
    await relay.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'generate') await generate(process.argv[3] ?? '', process.argv[4] ?? '', process.argv[5] ?? '');
else await measure();
