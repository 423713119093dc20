import { beforeAll, describe, expect, it } from 'vitest';
import {
  canonicalHash,
  canonicalJson,
  fingerprint,
  formatDuration,
  fromB64u,
  initCrypto,
  parseDeadlineOverride,
  parseDuration,
  parseLevel,
  sameFingerprint,
  uuidv7,
  uuidSchema,
} from '../../shared/index.ts';
import { party } from '../helpers/fixed-keys.ts';

beforeAll(initCrypto);

describe('canonical encoding', () => {
  it('is stable across key order and nesting', () => {
    const a = { b: 1, a: { z: [3, { y: 'x', x: 'y' }], c: null }, ü: 'é' };
    const b = { ü: 'é', a: { c: null, z: [3, { x: 'y', y: 'x' }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":null,"z":[3,{"x":"y","y":"x"}]},"b":1,"ü":"é"}');
    expect(canonicalHash(a)).toBe(canonicalHash(b));
  });

  it('uses ES number serialisation (RFC 8785 §3.2.2.3)', () => {
    expect(canonicalJson({ n: [1e21, 0.000001, 1.5, -0, 100] })).toBe('{"n":[1e+21,0.000001,1.5,0,100]}');
  });

  it('refuses non-canonical base64url', () => {
    const kid = party('x').identity.kid;
    expect(fromB64u(kid, 32)).toHaveLength(32);
    const last = kid.at(-1) ?? 'A';
    const bent = kid.slice(0, -1) + String.fromCharCode(last.charCodeAt(0) + 1);
    expect(() => fromB64u(bent, 32)).toThrow();
    expect(() => fromB64u(kid + '=', 32)).toThrow();
    expect(() => fromB64u(kid.slice(1), 32)).toThrow();
  });
});

describe('identity', () => {
  it('gives a six-group digit fingerprint that tolerates spacing when compared', () => {
    const fp = fingerprint(party('us').identity.kid);
    expect(fp).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(sameFingerprint(fp, fp.replace(/ /g, '-'))).toBe(true);
    expect(sameFingerprint(fp, fingerprint(party('cn').identity.kid))).toBe(false);
  });
});

describe('levels and durations', () => {
  it('parses levels case-insensitively and refuses unknown ones with a code', () => {
    expect(parseLevel('flash')).toBe('FLASH');
    expect(() => parseLevel('urgent')).toThrow(expect.objectContaining({ code: 'UNKNOWN_LEVEL' }));
  });

  it('parses and formats durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(850)).toBe('850ms');
    for (const bad of ['', '5', 'm5', '5x', '-5s', '0s']) expect(() => parseDuration(bad)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
  });

  it('parses LEVEL=DURATION overrides', () => {
    expect(parseDeadlineOverride('flash=2m')).toEqual(['FLASH', 120_000]);
    expect(() => parseDeadlineOverride('FLASH')).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
  });
});

describe('uuidv7', () => {
  it('is valid, time-ordered and embeds the clock', () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    expect(uuidSchema.safeParse(a).success).toBe(true);
    expect(a < b).toBe(true);
    expect(parseInt(a.replace(/-/g, '').slice(0, 12), 16)).toBe(1_700_000_000_000);
  });
});
