// What an operator holding relay.key can do to an export bundle: edit it, then re-hash the audit chain and re-sign every checkpoint, receipt and the manifest so that everything the relay signs agrees with itself.
import {
  nextAuditEvent,
  signCheckpoint,
  signManifest,
  signReceipt,
  type AuditEvent,
  type Identity,
  type ReviewBundle,
} from '../../shared/index.ts';

/** Applies `edit` to a copy, then re-signs the whole bundle with `relay` (the stolen key). */
export function resignBundle(b: ReviewBundle, relay: Identity, edit: (copy: ReviewBundle) => void): ReviewBundle {
  const copy = structuredClone(b);
  edit(copy);
  let head: AuditEvent | null = null;
  const renumbered = new Map<number, AuditEvent>();
  copy.audit.events = copy.audit.events.map((e) => {
    head = nextAuditEvent(head, e.at, e.type, e.data);
    renumbered.set(e.seq, head);
    return head;
  });
  copy.records = copy.records.map((r) => ({ ...r, escalation: r.escalation.map((s) => ({ ...s, auditSeq: s.auditSeq === null ? null : (renumbered.get(s.auditSeq)?.seq ?? s.auditSeq) })) }));
  const last = copy.audit.events[copy.audit.events.length - 1] as AuditEvent;
  // A checkpoint moves to the last kept event at or before the one it signed (events may have been removed).
  const keptAtOrBefore = (seq: number): AuditEvent | undefined => {
    for (let s = seq; s >= 1; s--) {
      const e = renumbered.get(s);
      if (e) return e;
    }
    return undefined;
  };
  const seen = new Set<number>();
  copy.audit.checkpoints = copy.audit.checkpoints.flatMap((cp) => {
    const at = keptAtOrBefore(cp.seq);
    if (!at || seen.has(at.seq)) return [];
    seen.add(at.seq);
    return [signCheckpoint(relay, { seq: at.seq, hash: at.hash }, cp.at)];
  });
  const eventOf = new Map(copy.audit.events.filter((e) => e.type.startsWith('envelope.')).map((e) => [String(e.data.id), e]));
  for (const env of copy.envelopes) {
    const event = eventOf.get(env.header.id);
    if (!event) continue;
    const r = env.receipt;
    env.receipt = signReceipt(relay, { id: r.id, hash: r.hash, acceptedAt: event.at, auditSeq: event.seq, ackDeadline: (event.data.ackDeadline as number | null) ?? null, auditHash: event.hash });
  }
  copy.manifest = signManifest(relay, {
    generatedAt: copy.generatedAt,
    filter: copy.filter,
    head: { seq: last.seq, hash: last.hash },
    checkpoint: copy.audit.checkpoints[copy.audit.checkpoints.length - 1]?.seq ?? null,
    envelopes: copy.envelopes.map((e) => e.receipt.hash),
    records: copy.records.map((r) => r.id),
  });
  return copy;
}
