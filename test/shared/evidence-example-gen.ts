// The worked example of docs/PROTOCOL.md: a small, fully deterministic export bundle with every preimage, hash and signature; `npx tsx test/shared/evidence-example-gen.ts` rewrites evidence-example.json.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  canonicalJson,
  charterHash,
  CHAIN_GENESIS,
  createIdentity,
  defaultAckDeadlines,
  defaultEscalationPolicy,
  digestFromParts,
  escalationSchedule,
  fingerprint,
  hash,
  initCrypto,
  nextAuditEvent,
  nextRosterBody,
  REVIEW_BUNDLE_FORMAT,
  rosterHash,
  sign,
  signCharter,
  signCheckpoint,
  signedBytes,
  signManifest,
  signReceipt,
  signRoster,
  signWitness,
  toB64u,
  utf8,
  witnessAuditData,
  type AuditEvent,
  type BundleEnvelope,
  type CharterBody,
  type EnvelopeHeader,
  type Identity,
  type Recipient,
  type ReviewBundle,
  type SignedCharter,
  type SignedRoster,
  type TimingRecord,
} from '../../shared/index.ts';
import { party, seed, T0 } from '../helpers/fixed-keys.ts';

/** Seed labels of the example's keys (seed() in test/helpers/fixed-keys.ts turns a label into 32 bytes). */
export const exampleSeedLabels = {
  relay: 'id:relay',
  us: 'id:us-primary',
  cn: 'id:cn-primary',
  usAuthority: 'id:us-authority',
  cnAuthority: 'id:cn-authority',
} as const;
export type ExampleKey = keyof typeof exampleSeedLabels;

/** Fixed example times (ms since the epoch). T0 is 2026-12-01T12:00:00.000Z. */
export const exampleTimes = {
  charterIssuedAt: T0 - 86_400_000,
  noticeCreatedAt: T0,
  noticeAcceptedAt: T0 + 120,
  ackCreatedAt: T0 + 60_000,
  ackAcceptedAt: T0 + 60_150,
  witnessAt: T0 + 60_200,
  witnessAppendedAt: T0 + 60_300,
  checkpointAt: T0 + 61_000,
  generatedAt: T0 + 3_600_000,
} as const;

/** A lowercase UUIDv7 with T0 as its time and a fixed tail (the real ones have random bits there). */
function exampleId(n: number): string {
  const t = T0.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7000-8000-${n.toString(16).padStart(12, '0')}`;
}

/** A recipient entry with fixed stand-in bytes: the verifier never opens a body, so no encryption is done here. */
function standInRecipient(kid: string, prekeyId: string, label: string): Recipient {
  const bytes = (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = seed(label)[i % 32] ?? 0;
    return toB64u(out);
  };
  return { kid, prekeyId, ephemeralPub: bytes(32), wrappedKey: bytes(72) };
}

interface SignedStep<T> {
  /** The exact canonical JSON text that is hashed or signed (UTF-8 encoded). */
  readonly preimage: string;
  readonly value: T;
}

function keyInfo(identity: Identity, label: string) {
  return { seedLabel: label, seedHex: Buffer.from(seed(label)).toString('hex'), kid: identity.kid, fingerprint: fingerprint(identity.kid) };
}

/** Everything in the example, recomputed from the fixed seeds and times. */
export function evidenceExample() {
  const id = Object.fromEntries(Object.entries(exampleSeedLabels).map(([k, label]) => [k, createIdentity(seed(label))])) as Record<ExampleKey, Identity>;
  const tm = exampleTimes;

  // Trust documents: the charter both authorities sign and one roster per state.
  const charterBody: CharterBody = {
    v: 1,
    channel: 'CN-US',
    version: 1,
    prev: null,
    issuedAt: tm.charterIssuedAt,
    authorities: { CN: id.cnAuthority.kid, US: id.usAuthority.kid },
    deadlines: { ...defaultAckDeadlines },
    escalation: defaultEscalationPolicy.map((s) => ({ ...s })),
    directors: [],
    reviewers: [],
    templates: null,
    timeTolerance: 120_000,
  };
  const charter: SignedCharter = signCharter(signCharter({ charter: charterBody }, 'CN', id.cnAuthority), 'US', id.usAuthority);
  const usRoster: SignedRoster = signRoster(
    id.usAuthority,
    nextRosterBody(null, { state: 'US', authority: id.usAuthority.kid }, [{ kid: id.us.kid, name: 'US CERT duty officer', role: 'poc' }], tm.charterIssuedAt),
  );
  const cnRoster: SignedRoster = signRoster(
    id.cnAuthority,
    nextRosterBody(null, { state: 'CN', authority: id.cnAuthority.kid }, [{ kid: id.cn.kid, name: 'CN CERT duty officer', role: 'poc' }], tm.charterIssuedAt),
  );
  const trustRefs = {
    charter: { version: 1, hash: charterHash(charter.charter) },
    rosters: { CN: { version: 1, hash: rosterHash(cnRoster.roster) }, US: { version: 1, hash: rosterHash(usRoster.roster) } },
  };

  // Envelopes: a FLASH notice US → CN, and CN's ack of it. Bodies are stood in for by fixed body hashes.
  const noticeHeader: EnvelopeHeader = {
    v: 3,
    id: exampleId(1),
    channel: 'CN-US',
    kind: 'notice',
    from: id.us.kid,
    fromState: 'US',
    toState: 'CN',
    level: 'FLASH',
    drill: null,
    seq: 1,
    createdAt: tm.noticeCreatedAt,
    refs: [],
    trust: trustRefs,
    chanSeq: 1,
    prev: CHAIN_GENESIS,
  };
  const ackHeader: EnvelopeHeader = {
    ...noticeHeader,
    id: exampleId(2),
    kind: 'ack',
    from: id.cn.kid,
    fromState: 'CN',
    toState: 'US',
    level: null,
    createdAt: tm.ackCreatedAt,
    refs: [noticeHeader.id],
  };
  const cnPrekeyId = party('cn-primary').prekey.prekey.prekeyId;
  const usPrekeyId = party('us-primary').prekey.prekey.prekeyId;
  const parts = [
    { signer: id.us, header: noticeHeader, recipients: [standInRecipient(id.cn.kid, cnPrekeyId, 'eph:notice')], bodyLabel: 'worked example: the notice body' },
    { signer: id.cn, header: ackHeader, recipients: [standInRecipient(id.us.kid, usPrekeyId, 'eph:ack')], bodyLabel: 'worked example: the ack body' },
  ];
  const signed = parts.map((p) => {
    const bodyHash = toB64u(hash(utf8(p.bodyLabel)));
    const sigPreimage = canonicalJson({ ctx: 'hotline-envelope-v1', header: p.header, recipients: p.recipients, bodyHash });
    const sig = toB64u(sign(signedBytes(p.header, p.recipients, bodyHash), p.signer.keys.secretKey));
    const hashPreimage = canonicalJson({ header: p.header, recipients: p.recipients, bodyHash, sig });
    return { header: p.header, recipients: p.recipients, bodyHash, bodyLabel: p.bodyLabel, sig, sigPreimage, hashPreimage, hash: digestFromParts(p.header, p.recipients, bodyHash, sig) };
  });
  const [notice, ack] = signed as [(typeof signed)[0], (typeof signed)[0]];

  // The audit chain: the notice, the ack, the first ack's verdict, a witness statement.
  const ackDeadline = tm.noticeAcceptedAt + charterBody.deadlines.FLASH;
  const envelopeData = (e: typeof notice, deadline: number | null) => ({
    id: e.header.id,
    hash: e.hash,
    channel: e.header.channel,
    from: e.header.from,
    fromState: e.header.fromState,
    toState: e.header.toState,
    level: e.header.level,
    drill: e.header.drill,
    seq: e.header.seq,
    createdAt: e.header.createdAt,
    refs: e.header.refs,
    ackDeadline: deadline,
  });
  const events: AuditEvent[] = [];
  const append = (at: number, type: string, data: Record<string, unknown>) => {
    const event = nextAuditEvent(events[events.length - 1] ?? null, at, type, data);
    events.push(event);
    return event;
  };
  const e1 = append(tm.noticeAcceptedAt, 'envelope.notice', envelopeData(notice, ackDeadline));
  const e2 = append(tm.ackAcceptedAt, 'envelope.ack', envelopeData(ack, null));
  append(tm.ackAcceptedAt, 'deadline.met', {
    id: notice.header.id,
    ackId: ack.header.id,
    ref: notice.header.id,
    channel: 'CN-US',
    level: 'FLASH',
    fromState: 'US',
    toState: 'CN',
    drill: null,
    ackedBy: id.cn.kid,
    acceptedAt: tm.noticeAcceptedAt,
    deadline: ackDeadline,
    ackedAt: tm.ackAcceptedAt,
    timeToAckMs: tm.ackAcceptedAt - tm.noticeAcceptedAt,
    late: false,
    lateByMs: 0,
    deadlines: [{ id: notice.header.id, level: 'FLASH', deadline: ackDeadline, lateByMs: 0 }],
    cancelledSteps: 3,
  });
  // CN's PoC witnesses the head its ack's receipt named (event 2).
  const witness = signWitness(id.cn, { relay: id.relay.kid, state: 'CN', seq: e2.seq, head: e2.hash, at: tm.witnessAt });
  append(tm.witnessAppendedAt, 'witness', witnessAuditData(witness));
  const head = events[events.length - 1] as AuditEvent;
  const checkpoint = signCheckpoint(id.relay, head, tm.checkpointAt);

  const receipts = [
    signReceipt(id.relay, { id: notice.header.id, hash: notice.hash, acceptedAt: tm.noticeAcceptedAt, auditSeq: e1.seq, ackDeadline, auditHash: e1.hash }),
    signReceipt(id.relay, { id: ack.header.id, hash: ack.hash, acceptedAt: tm.ackAcceptedAt, auditSeq: e2.seq, ackDeadline: null, auditHash: e2.hash }),
  ];
  const statement = <T extends { sig: string }>(ctx: string, value: T): SignedStep<T> => {
    const { sig: _sig, ...fields } = value;
    return { preimage: canonicalJson({ ...fields, ctx }), value };
  };

  const bundleEnvelopes: BundleEnvelope[] = signed.map((e, i) => ({ header: e.header, recipients: e.recipients, bodyHash: e.bodyHash, sig: e.sig, receipt: receipts[i] as BundleEnvelope['receipt'] }));
  const record: TimingRecord = {
    id: notice.header.id,
    channel: 'CN-US',
    kind: 'notice',
    fromState: 'US',
    toState: 'CN',
    level: 'FLASH',
    drill: null,
    from: id.us.kid,
    fromName: 'US CERT duty officer',
    sentAt: tm.noticeCreatedAt,
    acceptedAt: tm.noticeAcceptedAt,
    clockSkewMs: tm.noticeAcceptedAt - tm.noticeCreatedAt,
    deliveredAt: null,
    deliveredTo: 0,
    ackedAt: tm.ackAcceptedAt,
    ackId: ack.header.id,
    ackedBy: { kid: id.cn.kid, name: 'CN CERT duty officer' },
    ackDeadline,
    met: true,
    lateByMs: 0,
    timeToAckMs: tm.ackAcceptedAt - tm.noticeAcceptedAt,
    escalation: escalationSchedule(tm.noticeAcceptedAt, ackDeadline - tm.noticeAcceptedAt, charterBody.escalation).map((s) => ({
      id: notice.header.id,
      step: s.step,
      action: s.action,
      due: s.due,
      firedAt: null,
      cancelledAt: tm.ackAcceptedAt,
      auditSeq: null,
    })),
    raises: [],
  };
  const filter = { channel: 'CN-US', drill: 'all' };
  const manifest = signManifest(id.relay, {
    generatedAt: tm.generatedAt,
    filter,
    head: { seq: head.seq, hash: head.hash },
    checkpoint: checkpoint.seq,
    envelopes: bundleEnvelopes.map((e) => e.receipt.hash),
    records: [record.id],
  });
  const bundle: ReviewBundle = {
    format: REVIEW_BUNDLE_FORMAT,
    relay: id.relay.kid,
    generatedAt: tm.generatedAt,
    filter,
    roster: [
      { kid: id.cn.kid, state: 'CN', role: 'poc', name: 'CN CERT duty officer', revokedAt: null },
      { kid: id.us.kid, state: 'US', role: 'poc', name: 'US CERT duty officer', revokedAt: null },
    ],
    trust: { charters: [charter], rosters: [cnRoster, usRoster] },
    envelopes: bundleEnvelopes,
    audit: { events, checkpoints: [checkpoint] },
    records: [record],
    manifest,
  };

  return {
    about: 'Worked example of docs/PROTOCOL.md: every value is recomputed by test/shared/evidence-example.test.ts; regenerate with npx tsx test/shared/evidence-example-gen.ts',
    keys: Object.fromEntries(Object.entries(exampleSeedLabels).map(([k, label]) => [k, keyInfo(id[k as ExampleKey], label)])) as Record<ExampleKey, ReturnType<typeof keyInfo>>,
    trust: {
      charter: {
        sigPreimage: canonicalJson({ charter: charterBody, ctx: 'hotline-charter-v1' }),
        hashPreimage: canonicalJson({ charter: charterBody, ctx: 'hotline-charter-hash-v1' }),
        hash: trustRefs.charter.hash,
      },
      rosters: Object.fromEntries(
        [usRoster, cnRoster].map((r) => [
          r.roster.state,
          { sigPreimage: canonicalJson({ roster: r.roster, ctx: 'hotline-roster-v1' }), hashPreimage: canonicalJson({ roster: r.roster, ctx: 'hotline-roster-hash-v1' }), hash: rosterHash(r.roster) },
        ]),
      ),
    },
    envelopes: signed.map((e, i) => ({
      id: e.header.id,
      bodyHashOf: e.bodyLabel,
      bodyHash: e.bodyHash,
      sigPreimage: e.sigPreimage,
      sig: e.sig,
      hashPreimage: e.hashPreimage,
      hash: e.hash,
      receipt: statement('hotline-receipt-v1', receipts[i] as BundleEnvelope['receipt']),
    })),
    audit: events.map((e) => ({ seq: e.seq, preimage: canonicalJson({ seq: e.seq, at: e.at, type: e.type, data: e.data, prev: e.prev }), hash: e.hash })),
    checkpoint: statement('hotline-checkpoint-v1', checkpoint),
    witness: statement('hotline-witness-v1', witness),
    manifest: statement('hotline-manifest-v1', manifest),
    bundle,
  };
}
export type EvidenceExample = ReturnType<typeof evidenceExample>;

async function main(): Promise<void> {
  await initCrypto();
  writeFileSync(fileURLToPath(new URL('./evidence-example.json', import.meta.url)), JSON.stringify(evidenceExample(), null, 2) + '\n');
  console.log('wrote test/shared/evidence-example.json');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
