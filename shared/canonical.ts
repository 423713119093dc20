// RFC 8785 (JSON Canonicalization Scheme) encoding and the BLAKE2b-256 hash of it.
import canonicalize from 'canonicalize';
import { hash, toB64u, utf8 } from './crypto.ts';
import { HotlineError } from './errors.ts';

/** Canonical JSON text of `value` (RFC 8785): sorted keys, no whitespace, ES number form. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new HotlineError('BAD_SCHEMA', 'value cannot be canonicalized');
  return text;
}

/** UTF-8 bytes of the canonical JSON text. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalJson(value));
}

/** base64url BLAKE2b-256 of the canonical form: how every structure in Hotline is named by hash. */
export function canonicalHash(value: unknown): string {
  return toB64u(hash(canonicalBytes(value)));
}
