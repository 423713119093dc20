// RFC 8785 (JSON Canonicalization Scheme) encoding and the BLAKE2b-256 hash of it.
import canonicalize from 'canonicalize';
import { hash, toB64u, utf8 } from './crypto.ts';
import { HotlineError } from './errors.ts';

/**
 * Canonical JSON text of `value` (RFC 8785): sorted keys, no whitespace, ES number form. What RFC 8785 cannot encode
 * (a lone surrogate, which has no UTF-8 form; NaN, Infinity, a cycle) is BAD_INPUT: it came from outside, so it is
 * never an internal error.
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (cause) {
    throw new HotlineError('BAD_INPUT', `value cannot be canonicalized: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
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
