// Times the relay cannot choose alone: a receipt's acceptedAt is checked against the signer's own signed createdAt and against the checking client's clock, within the charter's timeTolerance.
import type { EnvelopeHeader, RelayReceipt } from '../schemas.ts';

/** A time the relay stated that the signed data or a client's own clock contradicts. */
export interface DisputedTime {
  readonly id: string;
  readonly what: string;
  readonly stated: number;
  /** What the other evidence puts it at. */
  readonly evidence: number;
  readonly byMs: number;
  readonly message: string;
}

const iso = (t: number) => new Date(t).toISOString();

/** acceptedAt against the signer's createdAt: an envelope is sent the moment it is signed, so they agree within `toleranceMs`. */
export function acceptanceDispute(header: EnvelopeHeader, receipt: RelayReceipt, toleranceMs: number): DisputedTime | null {
  const byMs = receipt.acceptedAt - header.createdAt;
  if (Math.abs(byMs) <= toleranceMs) return null;
  return {
    id: header.id,
    what: 'acceptedAt',
    stated: receipt.acceptedAt,
    evidence: header.createdAt,
    byMs,
    message:
      `${header.kind} ${header.id}: the relay says it accepted it at ${iso(receipt.acceptedAt)}; its signer signed it at ${iso(header.createdAt)} ` +
      `(${Math.round(Math.abs(byMs) / 1000)} s ${byMs > 0 ? 'earlier' : 'later'}; the charter tolerates ${Math.round(toleranceMs / 1000)} s)`,
  };
}

/**
 * A receipt a client just got for its own envelope: acceptedAt must lie between the moment it started sending and the
 * moment the receipt arrived, give or take `toleranceMs` (the two clocks may differ by that much).
 */
export function ownReceiptDispute(header: EnvelopeHeader, receipt: RelayReceipt, sentAt: number, receivedAt: number, toleranceMs: number): DisputedTime | null {
  const early = sentAt - toleranceMs - receipt.acceptedAt;
  const late = receipt.acceptedAt - (receivedAt + toleranceMs);
  if (early <= 0 && late <= 0) return null;
  const byMs = early > 0 ? -(sentAt - receipt.acceptedAt) : receipt.acceptedAt - receivedAt;
  return {
    id: header.id,
    what: 'acceptedAt',
    stated: receipt.acceptedAt,
    evidence: early > 0 ? sentAt : receivedAt,
    byMs,
    message:
      `${header.kind} ${header.id}: the relay's receipt says it was accepted at ${iso(receipt.acceptedAt)}, but this client sent it at ${iso(sentAt)} ` +
      `and had the receipt at ${iso(receivedAt)} (off by ${Math.round(Math.abs(byMs) / 1000)} s; the charter tolerates ${Math.round(toleranceMs / 1000)} s)`,
  };
}

/** A receipt of a delivered envelope: accepted no later than now (own clock), and within tolerance of the signer's createdAt. */
export function deliveredReceiptDispute(header: EnvelopeHeader, receipt: RelayReceipt, receivedAt: number, toleranceMs: number): DisputedTime | null {
  if (receipt.acceptedAt > receivedAt + toleranceMs) {
    const byMs = receipt.acceptedAt - receivedAt;
    return {
      id: header.id,
      what: 'acceptedAt',
      stated: receipt.acceptedAt,
      evidence: receivedAt,
      byMs,
      message: `${header.kind} ${header.id}: the relay's receipt says it was accepted at ${iso(receipt.acceptedAt)}, in this client's future (now ${iso(receivedAt)})`,
    };
  }
  return acceptanceDispute(header, receipt, toleranceMs);
}
