// What the evidence model costs (part of `npm run bench`, or alone: `npx tsx bench/evidence.ts [notices]`): its signatures per notice (µs, beside envelope verification measured in the same run), and a real export bundle per 10^3 notices (bytes, and how long the offline verifier takes).
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { HotlineClient } from '../client/hotline-client.ts';
import {
  advanceChain,
  assessBundle,
  CHAIN_GENESIS,
  createIdentity,
  initCrypto,
  signManifest,
  signReceipt,
  signRelayEvent,
  signWitness,
  verifyRelayEvent,
  verifyWitness,
  type ChainState,
} from '../shared/index.ts';
import { makeTempDir, removeTempDir } from './children.ts';
import { enrolClient } from './e2e.ts';
import { postJson, startHotlineRelay } from './hotline-relay.ts';
import { ratePerSec } from './limits.ts';
import { info, phase } from './progress.ts';
import { round } from './stats.ts';
import { channelTrust, installTrust } from './trust-setup.ts';

export interface EvidenceFigures {
  /** One thread, same run: microseconds per call. */
  readonly primitivesUs: {
    readonly receiptSign: number;
    readonly witnessSign: number;
    readonly witnessVerify: number;
    readonly eventSign: number;
    readonly eventVerify: number;
    readonly advanceChain: number;
    /** Signing the manifest of a 10^3-notice bundle (2,000 envelope hashes). */
    readonly manifestSign1000: number;
  };
  /**
   * New signature work per acknowledged notice: the acking PoC signs one witness statement, the relay verifies it (on
   * its verify pool, not the main thread) and appends one audit event, the offline verifier checks it once more.
   */
  readonly perNoticeUs: { readonly pocSign: number; readonly relayWorkerVerify: number; readonly verifierCheck: number };
  readonly bundle: {
    readonly notices: number;
    readonly envelopes: number;
    readonly auditEvents: number;
    readonly witnessEvents: number;
    readonly bytes: number;
    readonly gzipBytes: number;
    readonly bytesPer1000Notices: number;
    readonly gzipBytesPer1000Notices: number;
    readonly exportMs: number;
    readonly verifyMs: number;
    readonly verdict: string;
  } | null;
  readonly note: string;
}

/** Microseconds per call of `fn(i)` (i = 0, 1, 2, … never wrapping), from the same loop as the limits. */
function microsPerCall(ms: number, fn: (i: number) => void): number {
  return round(1e6 / ratePerSec(ms, Number.MAX_SAFE_INTEGER, fn), 2);
}

function measurePrimitives(ms: number): EvidenceFigures['primitivesUs'] {
  const relay = createIdentity();
  const poc = createIdentity();
  const head = 'A'.repeat(43);
  const statement = signWitness(poc, { relay: relay.kid, state: 'US', seq: 1, head, at: Date.now() });
  const event = signRelayEvent(relay, { kind: 'overdue', auditSeq: 7, auditHash: head, at: Date.now(), data: { id: 'x', step: 0, level: 'FLASH', deadline: Date.now() } });
  const hashes = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(6, '0')}${head}`.slice(0, 43));
  let state: ChainState = { position: null, ahead: new Map() };
  return {
    receiptSign: microsPerCall(ms, (i) => signReceipt(relay, { id: '01a2387c-0636-731d-8b4a-f3c4c86bd304', hash: head, acceptedAt: i, auditSeq: i + 1, ackDeadline: null, auditHash: head })),
    witnessSign: microsPerCall(ms, (i) => signWitness(poc, { relay: relay.kid, state: 'US', seq: i + 1, head, at: i })),
    witnessVerify: microsPerCall(ms, () => verifyWitness(statement)),
    eventSign: microsPerCall(ms, (i) => signRelayEvent(relay, { kind: 'overdue', auditSeq: i + 1, auditHash: head, at: i, data: { id: 'x', step: 0 } })),
    eventVerify: microsPerCall(ms, () => verifyRelayEvent(event, relay.kid)),
    advanceChain: microsPerCall(ms, (i) => {
      const n = i + 1;
      const link = { chanSeq: n, prev: n === 1 ? CHAIN_GENESIS : (state.position?.hash ?? CHAIN_GENESIS), hash: `${n}`.padStart(43, 'h') };
      state = advanceChain(state, link).state;
    }),
    manifestSign1000: microsPerCall(Math.min(ms, 500), () =>
      signManifest(relay, { generatedAt: 1, filter: { drill: 'all' }, head: { seq: 1, hash: head }, checkpoint: 1, envelopes: hashes, records: [] }),
    ),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One real pair: `notices` FLASH notices, each acked (and so witnessed) by the recipient; then the export and its verdict. */
async function measureBundle(notices: number): Promise<EvidenceFigures['bundle']> {
  const root = makeTempDir('evidence');
  const relay = await startHotlineRelay();
  const clients: HotlineClient[] = [];
  try {
    const channel = { a: 'EVA', b: 'EVB', deadlines: {} };
    const sender = await enrolClient(relay, root, 'sender', channel.a);
    const recipient = await enrolClient(relay, root, 'recipient', channel.b);
    clients.push(sender, recipient);
    const entrant = (c: HotlineClient) => ({ state: c.profile.state ?? '', name: c.profile.name, identity: { kid: c.profile.kid } });
    await installTrust(relay, [channelTrust(channel, [entrant(sender), entrant(recipient)])]);
    await Promise.all(clients.map((c) => c.connect()));
    let acked = 0;
    const acks: Promise<unknown>[] = [];
    recipient.on('notice', (record) => {
      acks.push(recipient.ack(record.id, 'seen').then(() => acked++));
    });
    for (let i = 0; i < notices; i++) await sender.send({ toState: channel.b, level: 'ROUTINE', text: `evidence bench notice ${i}` });
    const until = performance.now() + 60_000;
    while (acked < notices && performance.now() < until) await sleep(10);
    await Promise.allSettled(acks);
    await Promise.all(clients.map((c) => c.settle()));
    const { token } = await postJson<{ token: string }>(`${relay.httpUrl}/v1/admin/review-tokens`, { name: 'bench reviewer', ttlMs: 600_000 }, relay.adminToken);
    const started = performance.now();
    const res = await fetch(`${relay.httpUrl}/v1/review/export`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    const exportMs = round(performance.now() - started, 1);
    if (!res.ok) throw new Error(`export failed: ${res.status} ${text.slice(0, 200)}`);
    const bundle = JSON.parse(text) as { envelopes: unknown[]; audit: { events: { type: string }[] } };
    const verifyStarted = performance.now();
    const verdict = assessBundle(bundle, { relayKid: relay.relayKid });
    const verifyMs = round(performance.now() - verifyStarted, 1);
    const bytes = Buffer.byteLength(text);
    const gzipBytes = gzipSync(text).length;
    const per = 1000 / notices;
    return {
      notices,
      envelopes: bundle.envelopes.length,
      auditEvents: bundle.audit.events.length,
      witnessEvents: bundle.audit.events.filter((e) => e.type === 'witness').length,
      bytes,
      gzipBytes,
      bytesPer1000Notices: Math.round(bytes * per),
      gzipBytesPer1000Notices: Math.round(gzipBytes * per),
      exportMs,
      verifyMs,
      verdict: verdict.status === 'good' ? 'good' : `${verdict.status}: ${[...verdict.problems, ...verdict.missing][0] ?? ''}`,
    };
  } finally {
    for (const c of clients) c.close();
    await relay.stop();
    removeTempDir(root);
  }
}

export async function benchEvidence(input: { readonly notices: number; readonly primitiveMs: number }): Promise<EvidenceFigures> {
  phase(`evidence: signature costs, and a real export of ${input.notices} acknowledged notices`);
  const primitivesUs = measurePrimitives(input.primitiveMs);
  info(
    `  µs per call: receipt sign ${primitivesUs.receiptSign}, witness sign ${primitivesUs.witnessSign} / verify ${primitivesUs.witnessVerify}, ` +
      `event sign ${primitivesUs.eventSign} / verify ${primitivesUs.eventVerify}, chain step ${primitivesUs.advanceChain}, manifest of 10^3 notices ${primitivesUs.manifestSign1000}`,
  );
  const bundle = await measureBundle(input.notices);
  if (bundle) {
    info(
      `  bundle of ${bundle.notices} notices: ${bundle.envelopes} envelopes, ${bundle.auditEvents} audit events (${bundle.witnessEvents} witness), ` +
        `${Math.round(bundle.bytesPer1000Notices / 1024)} KiB per 10^3 notices (${Math.round(bundle.gzipBytesPer1000Notices / 1024)} KiB gzip); export ${bundle.exportMs} ms, verify ${bundle.verifyMs} ms: ${bundle.verdict}`,
    );
  }
  return {
    primitivesUs,
    perNoticeUs: { pocSign: primitivesUs.witnessSign, relayWorkerVerify: primitivesUs.witnessVerify, verifierCheck: primitivesUs.witnessVerify },
    bundle,
    note: 'one witness statement per acknowledged notice (plus one every few minutes per connected PoC); receipt signing existed before and now covers auditHash too',
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const notices = Number(process.argv[2] ?? 1000);
  await initCrypto();
  const figures = await benchEvidence({ notices, primitiveMs: 1000 });
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  process.exit(0);
}
