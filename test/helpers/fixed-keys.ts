// Fixed-seed identities and prekeys for unit tests: the same bytes every run.
import { createIdentity, createPrekey, type Identity, type PrekeyPair } from '../../shared/index.ts';

export function seed(label: string): Uint8Array {
  const out = new Uint8Array(32);
  const bytes = new TextEncoder().encode(label);
  for (let i = 0; i < 32; i++) out[i] = (bytes[i % bytes.length] ?? 0) ^ (i * 7);
  return out;
}

export interface TestParty {
  readonly identity: Identity;
  readonly prekey: PrekeyPair;
}

export const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** 64 fixed bytes (an ML-KEM-768 seed) from a label. */
export function seed64(label: string): Uint8Array {
  const out = new Uint8Array(64);
  out.set(seed(`${label}/0`), 0);
  out.set(seed(`${label}/1`), 32);
  return out;
}

/** A fixed party; its prekey is X25519-only (as the stored first-wave vectors need) unless `hybrid` is set. */
export function party(label: string, now = T0, options: { hybrid?: boolean } = {}): TestParty {
  const identity = createIdentity(seed(`id:${label}`));
  const kemSeed = options.hybrid === true ? seed64(`kem:${label}`) : null;
  return { identity, prekey: createPrekey(identity, now, 7 * 24 * 3600 * 1000, { secret: seed(`pk:${label}`), kemSeed }) };
}
