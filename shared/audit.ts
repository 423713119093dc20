// The audit hash chain: event hashing with prev-hash links, relay-signed checkpoints, and offline verification.
import { canonicalHash } from './canonical.ts';
import { HotlineError } from './errors.ts';
import { signStatement, verifyStatement, type Identity } from './identity.ts';
import type { AuditCheckpoint, AuditEvent } from './schemas.ts';

const CHECKPOINT_CTX = 'hotline-checkpoint-v1';

/** prev of the first event: 32 zero bytes, base64url. */
export const GENESIS_HASH = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export type AuditEventInput = Omit<AuditEvent, 'hash'>;

/** The hash naming one event: over seq, at, type, data and the previous event's hash. */
export function auditEventHash(event: AuditEventInput): string {
  return canonicalHash({ seq: event.seq, at: event.at, type: event.type, data: event.data, prev: event.prev });
}

/** The next event after `head` (null for the first). */
export function nextAuditEvent(head: Pick<AuditEvent, 'seq' | 'hash'> | null, at: number, type: string, data: Record<string, unknown>): AuditEvent {
  const input: AuditEventInput = { seq: (head?.seq ?? 0) + 1, at, type, data, prev: head?.hash ?? GENESIS_HASH };
  return { ...input, hash: auditEventHash(input) };
}

export function signCheckpoint(relay: Identity, head: Pick<AuditEvent, 'seq' | 'hash'>, at: number): AuditCheckpoint {
  const unsigned = { seq: head.seq, head: head.hash, at, relay: relay.kid };
  return { ...unsigned, sig: signStatement(relay, CHECKPOINT_CTX, unsigned) };
}

/** Throws BAD_SIGNATURE unless the checkpoint is signed by `relayKid`. */
export function verifyCheckpoint(checkpoint: AuditCheckpoint, relayKid: string): void {
  const { sig, ...unsigned } = checkpoint;
  if (checkpoint.relay !== relayKid) throw new HotlineError('BAD_SIGNATURE', `checkpoint ${checkpoint.seq} is signed by another relay`);
  if (!verifyStatement(relayKid, sig, CHECKPOINT_CTX, unsigned)) {
    throw new HotlineError('BAD_SIGNATURE', `checkpoint ${checkpoint.seq} signature does not verify`);
  }
}

export interface ChainVerification {
  readonly events: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly checkpoints: number;
  /** Highest seq covered by a verified checkpoint; events after it are linked but not yet signed. */
  readonly signedThrough: number;
}

/**
 * Verifies a contiguous run of events (each hash, each prev link, consecutive seq) and every checkpoint
 * against it. `anchor` is the hash before the first event (GENESIS_HASH when the run starts at seq 1).
 * Throws BAD_SIGNATURE naming the first failure.
 */
export function verifyAuditChain(
  events: readonly AuditEvent[],
  checkpoints: readonly AuditCheckpoint[],
  relayKid: string,
  anchor: string = GENESIS_HASH,
): ChainVerification {
  const fail = (message: string): never => {
    throw new HotlineError('BAD_SIGNATURE', message);
  };
  if (events.length === 0) fail('audit chain is empty');
  const bySeq = new Map<number, AuditEvent>();
  let prev = anchor;
  let expectedSeq = events[0]?.seq ?? 1;
  for (const event of events) {
    if (event.seq !== expectedSeq) fail(`audit event ${expectedSeq} is missing or out of order (found ${event.seq})`);
    if (event.prev !== prev) fail(`audit event ${event.seq} does not link to the event before it`);
    if (auditEventHash(event) !== event.hash) fail(`audit event ${event.seq} was altered (hash mismatch)`);
    bySeq.set(event.seq, event);
    prev = event.hash;
    expectedSeq = event.seq + 1;
  }
  let signedThrough = 0;
  let lastCheckpointSeq = 0;
  for (const cp of checkpoints) {
    verifyCheckpoint(cp, relayKid);
    if (cp.seq <= lastCheckpointSeq) fail(`checkpoint ${cp.seq} is out of order`);
    lastCheckpointSeq = cp.seq;
    const event = bySeq.get(cp.seq);
    if (!event) fail(`checkpoint ${cp.seq} names an event not in the chain`);
    if (event && event.hash !== cp.head) fail(`checkpoint ${cp.seq} does not match the chain head at that point`);
    signedThrough = cp.seq;
  }
  const first = events[0] as AuditEvent;
  const last = events[events.length - 1] as AuditEvent;
  return { events: events.length, firstSeq: first.seq, lastSeq: last.seq, checkpoints: checkpoints.length, signedThrough };
}
