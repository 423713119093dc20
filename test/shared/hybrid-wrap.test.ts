// Post-quantum hybrid key wrapping: ML-KEM-768 known answers through our wrapper, round trips, tampering and downgrades.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildEnvelope,
  concatBytes,
  createPrekey,
  fromB64u,
  hash,
  HotlineError,
  initCrypto,
  isHybridEnvelope,
  kemDecapsulate,
  kemEncapsulate,
  kemKeyPair,
  openEnvelope,
  parseEnvelope,
  signedBytes,
  sign,
  toB64u,
  utf8,
  verifyPrekey,
  type Envelope,
  type RecipientSecrets,
  type SignedPrekey,
} from '../../shared/index.ts';
import { party, seed64, T0, type TestParty } from '../helpers/fixed-keys.ts';
import { deterministicHybridWrap } from './hybrid-vectors.ts';
import { vectorHeader } from './vectors.ts';

interface AcvpVectors {
  source: string;
  keyGen: { tcId: number; d: string; z: string; ek: string; dk: string }[];
  encapsulation: { tcId: number; ek: string; m: string; c: string; k: string }[];
  decapsulation: { tcId: number; dk: string; c: string; k: string }[];
}

const acvp = JSON.parse(gunzipSync(readFileSync(new URL('./mlkem768-acvp.json.gz', import.meta.url))).toString('utf8')) as AcvpVectors;
const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

beforeAll(initCrypto);

function secretsOf(p: TestParty): RecipientSecrets {
  const kemKeys = new Map(p.prekey.kemSeed === null ? [] : [[p.prekey.prekey.prekeyId, kemKeyPair(p.prekey.kemSeed)] as const]);
  return { kid: p.identity.kid, prekeySecrets: new Map([[p.prekey.prekey.prekeyId, p.prekey.secretKey]]), kemKeys };
}

function build(from: TestParty, to: readonly TestParty[], opts: { requireHybrid?: boolean; prekeys?: SignedPrekey[] } = {}): Envelope {
  return buildEnvelope({
    sender: from.identity,
    header: vectorHeader,
    content: { subject: 'Hybrid', text: 'Incident at the exchange point; please acknowledge.' },
    recipients: to.map((p, i) => ({ kid: p.identity.kid, prekey: opts.prekeys?.[i] ?? p.prekey.prekey })),
    now: T0,
    ...(opts.requireHybrid === undefined ? {} : { requireHybrid: opts.requireHybrid }),
  });
}

/** What a sender holding its key (never the relay) can do: sign whatever recipients it likes. */
function resigned(envelope: Envelope, from: TestParty, recipients: Envelope['recipients']): Envelope {
  const bodyHash = toB64u(hash(fromB64u(envelope.body)));
  const sig = toB64u(sign(signedBytes(envelope.header, recipients, bodyHash), from.identity.keys.secretKey));
  return parseEnvelope({ ...envelope, recipients, sig });
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof HotlineError ? e.code : `not a HotlineError: ${String(e)}`;
  }
  return 'no error';
}

describe('ML-KEM-768 known answers (NIST ACVP, FIPS 203) through shared/crypto', () => {
  it('ships the ML-KEM-768 groups of the ACVP vectors', () => {
    expect(acvp.keyGen).toHaveLength(25);
    expect(acvp.encapsulation).toHaveLength(25);
    expect(acvp.decapsulation).toHaveLength(10);
  });

  it('keyGen: the seed d || z gives the expected encapsulation and decapsulation keys', () => {
    for (const t of acvp.keyGen) {
      const kp = kemKeyPair(concatBytes(hex(t.d), hex(t.z)));
      expect(toHex(kp.publicKey), `tcId ${t.tcId}`).toBe(t.ek.toUpperCase());
      expect(toHex(kp.secretKey), `tcId ${t.tcId}`).toBe(t.dk.toUpperCase());
    }
  });

  it('encapsulation: ek and the randomness m give the expected ciphertext and shared secret', () => {
    for (const t of acvp.encapsulation) {
      const { ciphertext, sharedSecret } = kemEncapsulate(hex(t.ek), hex(t.m));
      expect(toHex(ciphertext), `tcId ${t.tcId}`).toBe(t.c.toUpperCase());
      expect(toHex(sharedSecret), `tcId ${t.tcId}`).toBe(t.k.toUpperCase());
    }
  });

  it('decapsulation: valid and invalid (implicitly rejected) ciphertexts give the expected secret', () => {
    for (const t of acvp.decapsulation) {
      expect(toHex(kemDecapsulate(hex(t.c), hex(t.dk))), `tcId ${t.tcId}`).toBe(t.k.toUpperCase());
    }
  });

  it('refuses wrong sizes and an encapsulation key that fails the modulus check, with DECRYPT_FAILED', () => {
    const kp = kemKeyPair(seed64('sizes'));
    expect(codeOf(() => kemEncapsulate(kp.publicKey.subarray(1)))).toBe('DECRYPT_FAILED');
    const unreduced = kp.publicKey.slice();
    unreduced[0] = 0xff;
    unreduced[1] = 0xff; // the first 12-bit coefficient becomes 4095 > q
    expect(codeOf(() => kemEncapsulate(unreduced))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => kemDecapsulate(new Uint8Array(1087), kp.secretKey))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => kemKeyPair(new Uint8Array(32)))).toBe('BAD_INPUT');
  });
});

describe('hybrid wrap: derivation vectors', () => {
  const stored = JSON.parse(readFileSync(new URL('./hybrid-vectors.json', import.meta.url), 'utf8')) as {
    wrap: ReturnType<typeof deterministicHybridWrap>;
    envelope: unknown;
  };

  it('derives the stored wrap key from fixed seeds', () => {
    expect(deterministicHybridWrap()).toEqual(stored.wrap);
  });

  it('the wrap key is BLAKE2b-256 over the layout docs/PROTOCOL.md gives', () => {
    const w = stored.wrap;
    const layout = concatBytes(
      utf8('hotline-wrap-v2-hybrid'),
      fromB64u(w.x25519Shared, 32),
      fromB64u(w.kemShared, 32),
      fromB64u(w.ephemeralPub, 32),
      fromB64u(w.prekeyPub, 32),
      fromB64u(w.kemCiphertext, 1088),
      fromB64u(w.kemPublicKeyHash, 32),
      fromB64u(w.headerHash, 32),
      utf8(w.recipientKid),
    );
    expect(toB64u(hash(layout))).toBe(w.wrapKey);
  });

  it('the stored hybrid envelope still verifies and opens', () => {
    const envelope = parseEnvelope(stored.envelope);
    expect(isHybridEnvelope(envelope)).toBe(true);
    const opened = openEnvelope(envelope, secretsOf(party('cn-primary', T0, { hybrid: true })), { requireHybrid: true });
    expect(opened.content.subject).toBe('KAT hybrid');
  });
});

describe('hybrid wrap: round trips', () => {
  const us = () => party('us-primary', T0, { hybrid: true });
  const cn = () => party('cn-primary', T0, { hybrid: true });

  it('a hybrid prekey carries an ML-KEM-768 key signed by the owner together with the X25519 key, and its id names both', () => {
    const p = cn().prekey.prekey;
    expect(fromB64u(p.kemPublicKey as string)).toHaveLength(1184);
    expect(() => verifyPrekey(p, T0, p.owner)).not.toThrow();
    const classical = party('cn-primary').prekey.prekey;
    expect(classical.publicKey).toBe(p.publicKey);
    expect(classical.prekeyId).not.toBe(p.prekeyId);
  });

  it('wraps for every recipient with both X25519 and ML-KEM, and each opens it', () => {
    const cn2 = party('cn-alternate', T0, { hybrid: true });
    const envelope = build(us(), [cn(), cn2]);
    expect(envelope.recipients.every((r) => fromB64u(r.kemCiphertext as string).length === 1088)).toBe(true);
    expect(isHybridEnvelope(envelope)).toBe(true);
    for (const p of [cn(), cn2]) expect(openEnvelope(envelope, secretsOf(p), { requireHybrid: true }).content.subject).toBe('Hybrid');
  });

  it('still wraps with X25519 alone for an old prekey, and that opens where hybrid is not required', () => {
    const old = party('cn-primary');
    const envelope = build(us(), [old]);
    expect(envelope.recipients[0]?.kemCiphertext).toBeUndefined();
    expect(isHybridEnvelope(envelope)).toBe(false);
    expect(openEnvelope(envelope, secretsOf(old)).content.text).toContain('Incident');
  });

  it('opens the first-wave stored envelope (X25519 only) unchanged', () => {
    const stored = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8')) as { envelope: unknown };
    const envelope = parseEnvelope(stored.envelope);
    expect(isHybridEnvelope(envelope)).toBe(false);
    expect(() => openEnvelope(envelope, secretsOf(party('cn-primary')))).not.toThrow();
  });
});

describe('hybrid wrap: breaking one of the two is not enough', () => {
  const us = () => party('us-primary', T0, { hybrid: true });
  const cn = () => party('cn-primary', T0, { hybrid: true });

  it('the X25519 secret with someone else\'s ML-KEM key does not open it', () => {
    const envelope = build(us(), [cn()]);
    const real = secretsOf(cn());
    const wrongKem = new Map([[cn().prekey.prekey.prekeyId, kemKeyPair(seed64('attacker'))]]);
    expect(codeOf(() => openEnvelope(envelope, { ...real, kemKeys: wrongKem }))).toBe('DECRYPT_FAILED');
  });

  it('the ML-KEM secret with someone else\'s X25519 secret does not open it', () => {
    const envelope = build(us(), [cn()]);
    const real = secretsOf(cn());
    const wrongX = new Map([[cn().prekey.prekey.prekeyId, new Uint8Array(32).fill(9)]]);
    expect(codeOf(() => openEnvelope(envelope, { ...real, prekeySecrets: wrongX }))).toBe('DECRYPT_FAILED');
  });
});

describe('hybrid wrap: tampering', () => {
  const us = () => party('us-primary', T0, { hybrid: true });
  const cn = () => party('cn-primary', T0, { hybrid: true });

  function flipped(b64: string, at: number): string {
    const bytes = fromB64u(b64);
    bytes[at] = (bytes[at] as number) ^ 0x01;
    return toB64u(bytes);
  }

  it('a relay that changes the ML-KEM ciphertext breaks the sender\'s signature (BAD_SIGNATURE)', () => {
    const envelope = build(us(), [cn()]);
    const r = envelope.recipients[0]!;
    const tampered = parseEnvelope({ ...envelope, recipients: [{ ...r, kemCiphertext: flipped(r.kemCiphertext as string, 500) }] });
    expect(codeOf(() => openEnvelope(tampered, secretsOf(cn())))).toBe('BAD_SIGNATURE');
  });

  it('a changed ML-KEM ciphertext, even re-signed, does not open (implicit rejection, then the AEAD)', () => {
    const sender = us();
    const envelope = build(sender, [cn()]);
    const r = envelope.recipients[0]!;
    for (const at of [0, 543, 1087]) {
      const tampered = resigned(envelope, sender, [{ ...r, kemCiphertext: flipped(r.kemCiphertext as string, at) }]);
      expect(codeOf(() => openEnvelope(tampered, secretsOf(cn()))), `byte ${at}`).toBe('DECRYPT_FAILED');
    }
  });

  it('a relay that swaps the ML-KEM key in a prekey for its own is refused before anything is sealed', () => {
    const p = cn().prekey.prekey;
    const attacker = kemKeyPair(seed64('relay-kem'));
    const swapped = { ...p, kemPublicKey: toB64u(attacker.publicKey) };
    expect(codeOf(() => build(us(), [cn()], { prekeys: [swapped] }))).toBe('PREKEY_BAD_SIGNATURE');
    const flippedKey = { ...p, kemPublicKey: flipped(p.kemPublicKey as string, 100) };
    expect(codeOf(() => build(us(), [cn()], { prekeys: [flippedKey] }))).toBe('PREKEY_BAD_SIGNATURE');
  });

  it('the wrap is bound to the header: a recipient entry moved to another envelope does not open', () => {
    const sender = us();
    const a = build(sender, [cn()]);
    const b = buildEnvelope({
      sender: sender.identity,
      header: { ...vectorHeader, id: '019ad9a8-7c00-7000-8000-000000000002', seq: 2 },
      content: { subject: 'Other', text: 'Another notice.' },
      recipients: [{ kid: cn().identity.kid, prekey: cn().prekey.prekey }],
      now: T0,
    });
    const moved = resigned(b, sender, a.recipients);
    expect(codeOf(() => openEnvelope(moved, secretsOf(cn())))).toBe('DECRYPT_FAILED');
  });
});

describe('hybrid wrap: downgrades', () => {
  const us = () => party('us-primary', T0, { hybrid: true });
  const cn = () => party('cn-primary', T0, { hybrid: true });

  it('a relay that strips the ML-KEM key from a prekey breaks its signature (PREKEY_BAD_SIGNATURE)', () => {
    const { kemPublicKey: _dropped, ...stripped } = cn().prekey.prekey;
    expect(codeOf(() => build(us(), [cn()], { prekeys: [stripped] }))).toBe('PREKEY_BAD_SIGNATURE');
  });

  it('a relay that strips it and recomputes the id still fails the signature', () => {
    const { kemPublicKey: _dropped, ...stripped } = cn().prekey.prekey;
    const reId = { ...stripped, prekeyId: party('cn-primary').prekey.prekey.prekeyId };
    expect(codeOf(() => build(us(), [cn()], { prekeys: [reId] }))).toBe('PREKEY_BAD_SIGNATURE');
  });

  it('where the charter requires hybrid, a genuine old X25519-only prekey is refused (HYBRID_REQUIRED)', () => {
    expect(codeOf(() => build(us(), [party('cn-primary')], { requireHybrid: true }))).toBe('HYBRID_REQUIRED');
    expect(() => build(us(), [cn()], { requireHybrid: true })).not.toThrow();
  });

  it('a relay that strips the ML-KEM ciphertext from an envelope breaks the signature (BAD_SIGNATURE)', () => {
    const envelope = build(us(), [cn()]);
    const { kemCiphertext: _dropped, ...stripped } = envelope.recipients[0]!;
    expect(codeOf(() => openEnvelope(parseEnvelope({ ...envelope, recipients: [stripped] }), secretsOf(cn())))).toBe('BAD_SIGNATURE');
  });

  it('an X25519-only wrap to a hybrid prekey is refused as a downgrade, charter or not (HYBRID_REQUIRED)', () => {
    // A modified sender: wraps for the hybrid prekey's X25519 key alone and signs it.
    const sender = us();
    const target = cn();
    const { kemPublicKey: _k, ...x25519Only } = target.prekey.prekey;
    const classical = build(sender, [party('cn-primary')]);
    const entry = { ...classical.recipients[0]!, prekeyId: target.prekey.prekey.prekeyId };
    const forged = resigned(classical, sender, [entry]);
    expect(x25519Only.publicKey).toBe(target.prekey.prekey.publicKey);
    expect(codeOf(() => openEnvelope(forged, secretsOf(target)))).toBe('HYBRID_REQUIRED');
  });

  it('where the charter requires hybrid, an envelope with any X25519-only recipient is refused', () => {
    const oldAlternate = party('cn-alternate');
    const mixed = build(us(), [cn(), oldAlternate]);
    expect(isHybridEnvelope(mixed)).toBe(false);
    expect(codeOf(() => openEnvelope(mixed, secretsOf(cn()), { requireHybrid: true }))).toBe('HYBRID_REQUIRED');
    expect(() => openEnvelope(mixed, secretsOf(cn()))).not.toThrow();
  });

  it('the signature covers the ML-KEM ciphertext: signedBytes differ with and without it', () => {
    const envelope = build(us(), [cn()]);
    const { kemCiphertext: _dropped, ...stripped } = envelope.recipients[0]!;
    const bodyHash = toB64u(hash(fromB64u(envelope.body)));
    expect(signedBytes(envelope.header, [stripped], bodyHash)).not.toEqual(signedBytes(envelope.header, envelope.recipients, bodyHash));
  });
});

describe('createPrekey', () => {
  it('makes hybrid prekeys unless told kemSeed: null', () => {
    const id = party('x').identity;
    expect(createPrekey(id, T0).prekey.kemPublicKey).toBeDefined();
    expect(createPrekey(id, T0, undefined, { kemSeed: null }).prekey.kemPublicKey).toBeUndefined();
  });
});
