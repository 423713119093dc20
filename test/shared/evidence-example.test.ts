// The worked example of docs/PROTOCOL.md: every stored preimage, hash and signature recomputed with the project's functions and from first principles.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assessBundle,
  canonicalJson,
  charterHash,
  concatBytes,
  fromB64u,
  hash,
  initCrypto,
  rosterHash,
  sign,
  signingKeyPair,
  toB64u,
  utf8,
  verify,
  type AuditEvent,
} from '../../shared/index.ts';
import { evidenceExample, exampleSeedLabels, type EvidenceExample, type ExampleKey } from './evidence-example-gen.ts';

const stored = JSON.parse(readFileSync(new URL('./evidence-example.json', import.meta.url), 'utf8')) as EvidenceExample;

beforeAll(initCrypto);

/** base64url BLAKE2b-256 (unkeyed, 32-byte output) of the UTF-8 text. */
const b2 = (text: string) => toB64u(hash(utf8(text)));
const secretOf = (key: ExampleKey) => signingKeyPair(Buffer.from(stored.keys[key].seedHex, 'hex')).secretKey;

/** Ed25519 over the UTF-8 preimage: verifies under `kid`, and re-signing with the seed gives the very same bytes (RFC 8032 is deterministic). */
function expectSigned(preimage: string, sig: string, key: ExampleKey): void {
  expect(verify(fromB64u(sig, 64), utf8(preimage), fromB64u(stored.keys[key].kid, 32))).toBe(true);
  expect(toB64u(sign(utf8(preimage), secretOf(key)))).toBe(sig);
}

/** The object's own fields without `sig`, plus ctx, in canonical form. */
function statementPreimage(value: Record<string, unknown>, ctx: string): string {
  const { sig: _sig, ...fields } = value;
  return canonicalJson({ ...fields, ctx });
}

describe('evidence example', () => {
  it('is exactly what the generator computes from the fixed seeds and times', () => {
    expect(JSON.parse(JSON.stringify(evidenceExample()))).toEqual(stored);
  });

  it('is a bundle the offline verifier calls good with the relay key pinned, and not verifiable without it', () => {
    const pinned = assessBundle(stored.bundle, { relayKid: stored.keys.relay.kid });
    expect(pinned.problems).toEqual([]);
    expect(pinned.status).toBe('good');
    expect(pinned.summary?.witnesses.inChain).toBe(1);
    expect(assessBundle(stored.bundle, {}).status).toBe('unverifiable');
  });

  it('derives each key id from its seed and each fingerprint from the key', () => {
    for (const [key, label] of Object.entries(exampleSeedLabels) as [ExampleKey, string][]) {
      const info = stored.keys[key];
      expect(info.seedLabel).toBe(label);
      const publicKey = signingKeyPair(Buffer.from(info.seedHex, 'hex')).publicKey;
      expect(info.kid).toBe(toB64u(publicKey));
      const digest = hash(concatBytes(utf8('hotline-fingerprint-v1'), publicKey));
      const groups = [0, 1, 2, 3, 4, 5].map((g) => {
        let n = 0;
        for (let i = 0; i < 5; i++) n = n * 256 + (digest[g * 5 + i] ?? 0);
        return String(n % 100000).padStart(5, '0');
      });
      expect(info.fingerprint).toBe(groups.join(' '));
    }
  });

  it('recomputes the charter and roster preimages, hashes and authority signatures', () => {
    const [charter] = stored.bundle.trust.charters as [{ charter: Record<string, unknown>; sigs: { CN: string; US: string } }];
    const t = stored.trust.charter;
    expect(t.sigPreimage).toBe(canonicalJson({ ctx: 'hotline-charter-v1', charter: charter.charter }));
    expect(t.hashPreimage).toBe(canonicalJson({ ctx: 'hotline-charter-hash-v1', charter: charter.charter }));
    expect(t.hash).toBe(b2(t.hashPreimage));
    expect(t.hash).toBe(charterHash(charter.charter as never));
    expectSigned(t.sigPreimage, charter.sigs.CN, 'cnAuthority');
    expectSigned(t.sigPreimage, charter.sigs.US, 'usAuthority');
    for (const doc of stored.bundle.trust.rosters as { roster: { state: 'CN' | 'US' }; sig: string }[]) {
      const r = stored.trust.rosters[doc.roster.state] as { sigPreimage: string; hashPreimage: string; hash: string };
      expect(r.sigPreimage).toBe(canonicalJson({ ctx: 'hotline-roster-v1', roster: doc.roster }));
      expect(r.hashPreimage).toBe(canonicalJson({ ctx: 'hotline-roster-hash-v1', roster: doc.roster }));
      expect(r.hash).toBe(b2(r.hashPreimage));
      expect(r.hash).toBe(rosterHash(doc.roster as never));
      expectSigned(r.sigPreimage, doc.sig, doc.roster.state === 'CN' ? 'cnAuthority' : 'usAuthority');
    }
    const header = stored.bundle.envelopes[0]?.header;
    expect(header?.trust).toEqual({
      charter: { version: 1, hash: t.hash },
      rosters: { CN: { version: 1, hash: stored.trust.rosters.CN?.hash }, US: { version: 1, hash: stored.trust.rosters.US?.hash } },
    });
  });

  it('recomputes each envelope signature, envelope hash and relay receipt', () => {
    const signers: ExampleKey[] = ['us', 'cn'];
    stored.envelopes.forEach((step, i) => {
      const e = stored.bundle.envelopes[i];
      if (!e) throw new Error(`bundle envelope ${i} is missing`);
      expect(step.id).toBe(e.header.id);
      expect(step.bodyHash).toBe(b2(step.bodyHashOf));
      expect(e.bodyHash).toBe(step.bodyHash);
      expect(step.sigPreimage).toBe(canonicalJson({ ctx: 'hotline-envelope-v1', header: e.header, recipients: e.recipients, bodyHash: e.bodyHash }));
      expect(e.sig).toBe(step.sig);
      expectSigned(step.sigPreimage, step.sig, signers[i] as ExampleKey);
      expect(step.hashPreimage).toBe(canonicalJson({ header: e.header, recipients: e.recipients, bodyHash: e.bodyHash, sig: e.sig }));
      expect(step.hash).toBe(b2(step.hashPreimage));
      expect(e.receipt).toEqual(step.receipt.value);
      expect(e.receipt.hash).toBe(step.hash);
      expect(step.receipt.preimage).toBe(statementPreimage(e.receipt, 'hotline-receipt-v1'));
      expectSigned(step.receipt.preimage, e.receipt.sig, 'relay');
      const event = stored.bundle.audit.events[e.receipt.auditSeq - 1] as AuditEvent;
      expect(event.type).toBe(`envelope.${e.header.kind}`);
      expect(e.receipt.auditHash).toBe(event.hash);
    });
  });

  it('recomputes the audit chain from the genesis value, and the checkpoint over its head', () => {
    let prev = toB64u(new Uint8Array(32));
    stored.bundle.audit.events.forEach((event, i) => {
      const step = stored.audit[i];
      expect(step?.seq).toBe(i + 1);
      expect(event.seq).toBe(i + 1);
      expect(event.prev).toBe(prev);
      expect(step?.preimage).toBe(canonicalJson({ seq: event.seq, at: event.at, type: event.type, data: event.data, prev: event.prev }));
      expect(event.hash).toBe(b2(step?.preimage ?? ''));
      expect(step?.hash).toBe(event.hash);
      prev = event.hash;
    });
    const cp = stored.bundle.audit.checkpoints[0];
    expect(cp).toEqual(stored.checkpoint.value);
    expect(cp?.head).toBe(prev);
    expect(stored.checkpoint.preimage).toBe(statementPreimage(stored.checkpoint.value, 'hotline-checkpoint-v1'));
    expectSigned(stored.checkpoint.preimage, stored.checkpoint.value.sig, 'relay');
  });

  it('recomputes the witness statement and finds it, without its relay, as the witness audit event', () => {
    const w = stored.witness.value;
    expect(stored.witness.preimage).toBe(statementPreimage(w, 'hotline-witness-v1'));
    expectSigned(stored.witness.preimage, w.sig, 'cn');
    const witnessed = stored.bundle.audit.events[w.seq - 1];
    expect(witnessed?.hash).toBe(w.head);
    const event = stored.bundle.audit.events.find((e) => e.type === 'witness');
    const { relay, ...rest } = w;
    expect(relay).toBe(stored.bundle.relay);
    expect(event?.data).toEqual(rest);
  });

  it('recomputes the manifest signature and what it lists', () => {
    const m = stored.manifest.value;
    expect(stored.bundle.manifest).toEqual(m);
    expect(stored.manifest.preimage).toBe(statementPreimage(m, 'hotline-manifest-v1'));
    expectSigned(stored.manifest.preimage, m.sig, 'relay');
    const last = stored.bundle.audit.events[stored.bundle.audit.events.length - 1];
    expect(m.head).toEqual({ seq: last?.seq, hash: last?.hash });
    expect(m.envelopes).toEqual(stored.envelopes.map((e) => e.hash));
    expect(m.records).toEqual(stored.bundle.records.map((r) => r.id));
    expect(m.generatedAt).toBe(stored.bundle.generatedAt);
  });

  it('recomputes the timing record from the signed receipts and the charter', () => {
    const [notice, ack] = stored.bundle.envelopes as [(typeof stored.bundle.envelopes)[0], (typeof stored.bundle.envelopes)[0]];
    const r = stored.bundle.records[0];
    const flash = 300_000;
    expect(notice.receipt.ackDeadline).toBe(notice.receipt.acceptedAt + flash);
    expect(r?.ackDeadline).toBe(notice.receipt.ackDeadline);
    expect(r?.timeToAckMs).toBe(ack.receipt.acceptedAt - notice.receipt.acceptedAt);
    expect(r?.met).toBe(ack.receipt.acceptedAt <= (notice.receipt.ackDeadline ?? 0));
    expect(r?.escalation.map((s) => s.due)).toEqual([100, 125, 150].map((p) => notice.receipt.acceptedAt + Math.round((flash * p) / 100)));
  });
});
