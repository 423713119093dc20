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

export function party(label: string, now = T0): TestParty {
  const identity = createIdentity(seed(`id:${label}`));
  return { identity, prekey: createPrekey(identity, now, 7 * 24 * 3600 * 1000, seed(`pk:${label}`)) };
}
