import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildEnvelope,
  canonicalJson,
  createPrekey,
  HotlineError,
  initCrypto,
  openEnvelope,
  parseEnvelope,
  uuidv7,
  verifyEnvelope,
  type Envelope,
  type EnvelopeHeader,
} from '../../shared/index.ts';
import { party, T0, type TestParty } from '../helpers/fixed-keys.ts';

let us: TestParty;
let cn: TestParty;
let cnAlt: TestParty;
let outsider: TestParty;

beforeAll(async () => {
  await initCrypto();
  us = party('us-primary');
  cn = party('cn-primary');
  cnAlt = party('cn-alternate');
  outsider = party('outsider');
});

function header(overrides: Partial<Omit<EnvelopeHeader, 'v' | 'from'>> = {}): Omit<EnvelopeHeader, 'v' | 'from'> {
  return {
    id: uuidv7(T0),
    channel: 'CN-US',
    kind: 'notice',
    fromState: 'US',
    toState: 'CN',
    level: 'FLASH',
    drill: null,
    seq: 1,
    createdAt: T0,
    refs: [],
    ...overrides,
  };
}

function notice(overrides: Partial<Omit<EnvelopeHeader, 'v' | 'from'>> = {}): Envelope {
  return buildEnvelope({
    sender: us.identity,
    header: header(overrides),
    content: { subject: 'Scanning', text: 'Scanning from 198.51.100.0/24 against grid operators' },
    recipients: [
      { kid: cn.identity.kid, prekey: cn.prekey.prekey },
      { kid: cnAlt.identity.kid, prekey: cnAlt.prekey.prekey },
    ],
    now: T0,
  });
}

function secretsOf(p: TestParty) {
  return { kid: p.identity.kid, prekeySecrets: new Map([[p.prekey.prekey.prekeyId, p.prekey.secretKey]]) };
}

/** Parses, verifies and opens as CN; throws when anything is wrong. */
function acceptAndOpen(json: string) {
  const env = parseEnvelope(JSON.parse(json));
  verifyEnvelope(env);
  return openEnvelope(env, secretsOf(cn));
}

describe('envelope', () => {
  it('round-trips a notice to every recipient', () => {
    const env = notice();
    for (const p of [cn, cnAlt]) {
      const opened = openEnvelope(env, secretsOf(p));
      expect(opened.content.text).toContain('198.51.100.0/24');
      expect(opened.header.level).toBe('FLASH');
      expect(opened.header.from).toBe(us.identity.kid);
    }
  });

  it('keeps subject and text out of the cleartext parts', () => {
    const json = JSON.stringify(notice());
    expect(json).not.toContain('Scanning');
    expect(json).not.toContain('198.51.100');
  });

  it('verifies with public data only and returns a stable digest', () => {
    const env = notice();
    expect(verifyEnvelope(env).hash).toBe(verifyEnvelope(parseEnvelope(JSON.parse(JSON.stringify(env)))).hash);
  });

  it('refuses a key that is not a recipient', () => {
    expect(() => openEnvelope(notice(), secretsOf(outsider))).toThrow(expect.objectContaining({ code: 'NOT_A_RECIPIENT' }));
  });

  it('refuses a recipient that claims a listed kid but holds other prekey secrets', () => {
    const fake = { kid: cn.identity.kid, prekeySecrets: new Map([[cn.prekey.prekey.prekeyId, outsider.prekey.secretKey]]) };
    expect(() => openEnvelope(notice(), fake)).toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
  });

  it('detects every single-byte change anywhere in the envelope', () => {
    const json = canonicalJson(notice());
    expect(acceptAndOpen(json).content.subject).toBe('Scanning');
    const undetected: number[] = [];
    for (let i = 0; i < json.length; i++) {
      const original = json.charCodeAt(i);
      for (const replacement of [original ^ 1, original === 0x41 ? 0x42 : 0x41]) {
        if (replacement === original) continue;
        const tampered = json.slice(0, i) + String.fromCharCode(replacement) + json.slice(i + 1);
        try {
          acceptAndOpen(tampered);
          undetected.push(i);
        } catch {
          // detected: parse, schema, signature or decryption refused it
        }
      }
    }
    expect(json.length).toBeGreaterThan(1000);
    expect(undetected).toEqual([]);
  });

  it('detects a relay stripping the drill mark, changing the level, or dropping a recipient', () => {
    const drill = notice({ drill: { drillId: 'grid-2026', inject: 2 } });
    const stripped = { ...drill, header: { ...drill.header, drill: null } };
    expect(() => verifyEnvelope(stripped)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    const lowered = { ...drill, header: { ...drill.header, level: 'ROUTINE' as const } };
    expect(() => verifyEnvelope(lowered)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    const fewer = { ...drill, recipients: drill.recipients.slice(0, 1) };
    expect(() => verifyEnvelope(fewer)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
  });

  it('refuses an envelope re-signed by someone other than the claimed sender', () => {
    const forged = buildEnvelope({
      sender: outsider.identity,
      header: header(),
      content: { subject: null, text: 'forged' },
      recipients: [{ kid: cn.identity.kid, prekey: cn.prekey.prekey }],
      now: T0,
    });
    const claimed = { ...forged, header: { ...forged.header, from: us.identity.kid } };
    expect(() => verifyEnvelope(claimed)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
  });

  it('refuses to seal to an expired prekey or one signed by another key', () => {
    const old = createPrekey(cn.identity, T0 - 30 * 24 * 3600 * 1000, 1000);
    const build = (prekey: typeof old.prekey) => () =>
      buildEnvelope({ sender: us.identity, header: header(), content: { subject: null, text: 'x' }, recipients: [{ kid: cn.identity.kid, prekey }], now: T0 });
    expect(build(old.prekey)).toThrow(expect.objectContaining({ code: 'PREKEY_EXPIRED' }));
    const swapped = { ...cn.prekey.prekey, publicKey: outsider.prekey.prekey.publicKey };
    expect(build(swapped)).toThrow(expect.objectContaining({ code: 'PREKEY_BAD_SIGNATURE' }));
    const unsigned = { ...cn.prekey.prekey, sig: outsider.prekey.prekey.sig };
    expect(build(unsigned)).toThrow(expect.objectContaining({ code: 'PREKEY_BAD_SIGNATURE' }));
    const othersPrekey = outsider.prekey.prekey;
    expect(build(othersPrekey)).toThrow(expect.objectContaining({ code: 'PREKEY_BAD_SIGNATURE' }));
  });

  it('enforces kind rules: acks reference, notices carry a level and a recipient', () => {
    expect(() => notice({ kind: 'ack', level: null })).toThrow(HotlineError);
    const env = notice();
    expect(() => verifyEnvelope({ ...env, header: { ...env.header, level: null } })).toThrow(
      expect.objectContaining({ code: 'BAD_ENVELOPE' }),
    );
    expect(() => verifyEnvelope({ ...env, header: { ...env.header, toState: 'RU' } })).toThrow(
      expect.objectContaining({ code: 'BAD_ENVELOPE' }),
    );
  });

  it('rejects unknown fields (strict schema) so nothing unsigned rides along', () => {
    const env = JSON.parse(JSON.stringify(notice())) as Record<string, unknown>;
    env.extra = 'smuggled';
    expect(() => parseEnvelope(env)).toThrow(expect.objectContaining({ code: 'BAD_SCHEMA' }));
  });
});
