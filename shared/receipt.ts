// The relay-signed acceptance receipt {id, hash, acceptedAt, auditSeq, ackDeadline}.
import { HotlineError } from './errors.ts';
import { signStatement, verifyStatement, type Identity } from './identity.ts';
import type { RelayReceipt } from './schemas.ts';

const RECEIPT_CTX = 'hotline-receipt-v1';

export type UnsignedReceipt = Omit<RelayReceipt, 'sig' | 'relay'>;

export function signReceipt(relay: Identity, fields: UnsignedReceipt): RelayReceipt {
  const unsigned = { ...fields, relay: relay.kid };
  return { ...unsigned, sig: signStatement(relay, RECEIPT_CTX, unsigned) };
}

/** Throws BAD_SIGNATURE unless the receipt is signed by `relayKid` (when given) and matches itself. */
export function verifyReceipt(receipt: RelayReceipt, relayKid?: string): void {
  const { sig, ...unsigned } = receipt;
  if (relayKid !== undefined && receipt.relay !== relayKid) {
    throw new HotlineError('BAD_SIGNATURE', 'receipt is signed by another relay');
  }
  if (!verifyStatement(receipt.relay, sig, RECEIPT_CTX, unsigned)) {
    throw new HotlineError('BAD_SIGNATURE', 'relay receipt signature does not verify');
  }
}
