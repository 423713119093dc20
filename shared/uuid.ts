// UUIDv7 (RFC 9562): time-ordered ids for envelopes, from a clock value the caller passes in.
import { randomBytes } from './crypto.ts';

/** A lowercase UUIDv7 whose first 48 bits are `nowMs`. */
export function uuidv7(nowMs: number): string {
  const bytes = randomBytes(16);
  let t = Math.floor(nowMs);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
