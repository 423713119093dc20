// Signed relay events (overdue, escalation, check, drill): a client shows or acts on one only when the relay it pinned signed it.
import { HotlineError } from '../errors.ts';
import { signStatement, verifyStatement, type Identity } from '../identity.ts';
import type { RelayEvent } from '../schemas.ts';

/** Signature context: sig = Ed25519(relay, canonical({ctx, kind, auditSeq, auditHash, at, data, relay})). */
export const RELAY_EVENT_CTX = 'hotline-event-v1';

export type UnsignedRelayEvent = Omit<RelayEvent, 'sig' | 'relay'>;

export function signRelayEvent(relay: Identity, event: UnsignedRelayEvent): RelayEvent {
  const unsigned = { ...event, relay: relay.kid };
  return { ...unsigned, sig: signStatement(relay, RELAY_EVENT_CTX, unsigned) };
}

/** Throws BAD_SIGNATURE unless `relayKid` signed the event. */
export function verifyRelayEvent(event: RelayEvent, relayKid: string): void {
  const { sig, ...unsigned } = event;
  if (sig === undefined || event.relay === undefined) throw new HotlineError('BAD_SIGNATURE', `relay event ${event.kind} is not signed`);
  if (event.relay !== relayKid) throw new HotlineError('BAD_SIGNATURE', `relay event ${event.kind} is signed by another relay`);
  if (!verifyStatement(relayKid, sig, RELAY_EVENT_CTX, unsigned)) throw new HotlineError('BAD_SIGNATURE', `relay event ${event.kind} signature does not verify`);
}
