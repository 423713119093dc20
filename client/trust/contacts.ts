// Marking a pinned contact verified once a person has compared its fingerprint out of band.
import { fingerprint, HotlineError } from '../../shared/index.ts';
import type { ContactRecord, HistoryStore } from '../history.ts';

export function trustContact(history: HistoryStore, kid: string, typedFingerprint: string, now: number): ContactRecord {
  const contact = history.contact(kid);
  if (!contact) throw new HotlineError('NOT_FOUND', `no contact with key ${kid}; run \`hotline contacts\` to list them`);
  const expected = fingerprint(kid).replace(/\s/g, '');
  if (typedFingerprint.replace(/[\s-]/g, '') !== expected) {
    throw new HotlineError('BAD_INPUT', `fingerprint does not match key ${kid.slice(0, 8)}…: do not trust it; check with the other side again`);
  }
  history.markVerified(kid, now);
  return history.contact(kid) as ContactRecord;
}
