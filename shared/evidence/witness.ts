// Witness statements: a PoC signs the relay's audit head it saw, so a rewritten or truncated chain contradicts it even when the relay's key was stolen.
import { HotlineError } from '../errors.ts';
import { signStatement, verifyStatement, type Identity } from '../identity.ts';
import type { WitnessStatement } from '../schemas.ts';

/** Signature context: sig = Ed25519(kid, canonical({ctx, relay, kid, state, seq, head, at})). */
export const WITNESS_CTX = 'hotline-witness-v1';

export type UnsignedWitness = Omit<WitnessStatement, 'sig' | 'kid'>;

export function signWitness(witness: Identity, fields: UnsignedWitness): WitnessStatement {
  const unsigned = { ...fields, kid: witness.kid };
  return { ...unsigned, sig: signStatement(witness, WITNESS_CTX, unsigned) };
}

/** Throws BAD_SIGNATURE unless the statement is signed by the key it names. */
export function verifyWitness(statement: WitnessStatement): void {
  const { sig, ...unsigned } = statement;
  if (!verifyStatement(statement.kid, sig, WITNESS_CTX, unsigned)) {
    throw new HotlineError('BAD_SIGNATURE', `witness statement of ${statement.kid.slice(0, 8)}… at audit event ${statement.seq} does not verify`);
  }
}

/** The audit data a relay records for a statement it accepted (event type `witness`). */
export function witnessAuditData(s: WitnessStatement): Record<string, unknown> {
  return { kid: s.kid, state: s.state, seq: s.seq, head: s.head, at: s.at, sig: s.sig };
}

/** The statement back from its audit data (the relay's key added back); malformed values make it fail to verify, not throw. */
export function witnessFromAuditData(relay: string, d: Record<string, unknown>): WitnessStatement {
  return { relay, kid: String(d.kid), state: String(d.state), seq: Number(d.seq), head: String(d.head), at: Number(d.at), sig: String(d.sig) };
}
