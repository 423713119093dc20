// What post-quantum hybrid key wrapping costs a client (part of `npm run bench`, or alone: `npx tsx bench/hybrid-wrap.ts`):
// building and opening one notice with X25519 + ML-KEM-768 against X25519 alone, in the same run, and the bytes each
// recipient adds.
import { pathToFileURL } from 'node:url';
import {
  buildEnvelope,
  canonicalJson,
  createIdentity,
  createPrekey,
  initCrypto,
  kemDecapsulate,
  kemEncapsulate,
  kemKeyPair,
  openEnvelope,
  uuidv7,
  type Envelope,
  type Identity,
  type KemKeyPair,
  type PrekeyPair,
} from '../shared/index.ts';
import { ratePerSec } from './limits.ts';
import { info, phase } from './progress.ts';
import { round } from './stats.ts';

interface WrapPoint {
  /** Microseconds to build and sign one envelope (content sealed once, key wrapped per recipient). */
  readonly buildUs: number;
  /** Microseconds for one recipient to verify and open it. */
  readonly openUs: number;
  /** Bytes of the envelope as JSON on the wire. */
  readonly envelopeBytes: number;
}

export interface HybridWrapFigures {
  readonly recipients: number;
  readonly x25519: WrapPoint;
  readonly hybrid: WrapPoint;
  /** hybrid / x25519, same run. */
  readonly buildRatio: number;
  readonly openRatio: number;
  /** Extra microseconds per recipient for the sender (wrap) and for the recipient (unwrap). */
  readonly extraWrapUsPerRecipient: number;
  readonly extraUnwrapUs: number;
  /** Extra bytes per recipient entry (the ML-KEM ciphertext, base64url), and per prekey in the directory. */
  readonly extraBytesPerRecipient: number;
  readonly extraPrekeyBytes: number;
  /** ML-KEM-768 primitives alone, µs per call. */
  readonly kemUs: { readonly keygen: number; readonly encapsulate: number; readonly decapsulate: number };
  readonly note: string;
}

const microsPerCall = (ms: number, fn: (i: number) => void): number => round(1e6 / ratePerSec(ms, Number.MAX_SAFE_INTEGER, fn), 1);

function measure(ms: number, sender: Identity, recipients: readonly { identity: Identity; prekey: PrekeyPair; kem: KemKeyPair | null }[], text: string): WrapPoint {
  const now = Date.now();
  const build = (i: number): Envelope =>
    buildEnvelope({
      sender,
      header: { id: uuidv7(now + i), channel: 'CN-US', kind: 'notice', fromState: 'US', toState: 'CN', level: 'FLASH', drill: null, seq: i + 1, createdAt: now, refs: [] },
      content: { subject: 'Scanning', text },
      recipients: recipients.map((r) => ({ kid: r.identity.kid, prekey: r.prekey.prekey })),
      now,
    });
  const sample = build(0);
  const me = recipients[0] as (typeof recipients)[number];
  const secrets = {
    kid: me.identity.kid,
    prekeySecrets: new Map([[me.prekey.prekey.prekeyId, me.prekey.secretKey]]),
    kemKeys: new Map(me.kem ? [[me.prekey.prekey.prekeyId, me.kem] as const] : []),
  };
  return {
    buildUs: microsPerCall(ms, (i) => build(i)),
    openUs: microsPerCall(ms, () => openEnvelope(sample, secrets)),
    envelopeBytes: Buffer.byteLength(canonicalJson(sample)),
  };
}

/** Same identities, same text, two prekey kinds; `recipients` per notice (a channel of two PoCs per state gives 3). */
export async function benchHybridWrap(options: { recipients?: number; ms?: number; textBytes?: number } = {}): Promise<HybridWrapFigures> {
  await initCrypto();
  const n = options.recipients ?? 3;
  const ms = options.ms ?? 1000;
  phase(`hybrid key wrapping: X25519 + ML-KEM-768 against X25519 alone, ${n} recipients per notice (${ms / 1000}s per figure)`);
  const sender = createIdentity();
  const text = 'x'.repeat(options.textBytes ?? 1024);
  const people = Array.from({ length: n }, () => createIdentity());
  const now = Date.now();
  const classical = people.map((identity) => ({ identity, prekey: createPrekey(identity, now, undefined, { kemSeed: null }), kem: null }));
  const hybrid = people.map((identity) => {
    const prekey = createPrekey(identity, now);
    return { identity, prekey, kem: kemKeyPair(prekey.kemSeed as Uint8Array) };
  });
  const x = measure(ms, sender, classical, text);
  const h = measure(ms, sender, hybrid, text);
  const kp = kemKeyPair();
  const enc = kemEncapsulate(kp.publicKey);
  const kemUs = {
    keygen: microsPerCall(ms, () => kemKeyPair()),
    encapsulate: microsPerCall(ms, () => kemEncapsulate(kp.publicKey)),
    decapsulate: microsPerCall(ms, () => kemDecapsulate(enc.ciphertext, kp.secretKey)),
  };
  const prekeyBytes = (p: PrekeyPair) => Buffer.byteLength(canonicalJson(p.prekey));
  const figures: HybridWrapFigures = {
    recipients: n,
    x25519: x,
    hybrid: h,
    buildRatio: round(h.buildUs / x.buildUs, 2),
    openRatio: round(h.openUs / x.openUs, 2),
    extraWrapUsPerRecipient: round((h.buildUs - x.buildUs) / n, 1),
    extraUnwrapUs: round(h.openUs - x.openUs, 1),
    extraBytesPerRecipient: round((h.envelopeBytes - x.envelopeBytes) / n, 0),
    extraPrekeyBytes: prekeyBytes(hybrid[0]!.prekey) - prekeyBytes(classical[0]!.prekey),
    kemUs,
    note: 'one thread, same run, same identities and text; build = seal + wrap for every recipient + sign; open = verify + unwrap + open; ML-KEM is @noble/post-quantum (pure JS), X25519 libsodium (WebAssembly)',
  };
  for (const line of describeHybridWrap(figures)) info(line);
  return figures;
}

export function describeHybridWrap(f: HybridWrapFigures): string[] {
  return [
    `build ${f.recipients}-recipient notice: X25519 ${f.x25519.buildUs} µs, hybrid ${f.hybrid.buildUs} µs (${f.buildRatio}×; +${f.extraWrapUsPerRecipient} µs per recipient)`,
    `open: X25519 ${f.x25519.openUs} µs, hybrid ${f.hybrid.openUs} µs (${f.openRatio}×; +${f.extraUnwrapUs} µs)`,
    `size: ${f.x25519.envelopeBytes} → ${f.hybrid.envelopeBytes} bytes (+${f.extraBytesPerRecipient} per recipient); prekey +${f.extraPrekeyBytes} bytes`,
    `ML-KEM-768 alone: keygen ${f.kemUs.keygen} µs, encapsulate ${f.kemUs.encapsulate} µs, decapsulate ${f.kemUs.decapsulate} µs`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await benchHybridWrap({ recipients: Number(process.argv[2] ?? 3) });
  console.log(JSON.stringify(figures, null, 2));
}
