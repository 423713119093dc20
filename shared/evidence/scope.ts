// Which envelopes an export filter covers, computed from the audit chain alone: the relay's export and the offline verifier must agree on it exactly.
import type { TimingFilter } from '../review.ts';
import type { AuditEvent } from '../schemas.ts';

/** The fields of an `envelope.<kind>` audit event the scope rule reads. */
interface EnvelopeEventData {
  readonly id: string;
  readonly hash: string;
  readonly channel: string;
  readonly fromState: string;
  readonly toState: string;
  readonly level: string | null;
  readonly drill: { readonly drillId: string } | null;
  readonly refs: readonly string[];
}

export interface EnvelopeEvent {
  readonly event: AuditEvent;
  readonly kind: string;
  readonly data: EnvelopeEventData;
}

export interface BundleScope {
  /** Notice ids the filter selects, in audit order: one timing record each. */
  readonly notices: readonly string[];
  /** Envelope events in scope, in audit order. */
  readonly envelopes: readonly EnvelopeEvent[];
}

const ENVELOPE_PREFIX = 'envelope.';

/** The envelope events of the chain, in audit order. */
export function envelopeEvents(events: readonly AuditEvent[]): EnvelopeEvent[] {
  const out: EnvelopeEvent[] = [];
  for (const event of events) {
    if (!event.type.startsWith(ENVELOPE_PREFIX)) continue;
    out.push({ event, kind: event.type.slice(ENVELOPE_PREFIX.length), data: event.data as unknown as EnvelopeEventData });
  }
  return out;
}

/**
 * The scope rule (docs/PROTOCOL.md, "Bundle scope"): notices of the filter's channel accepted in [since, until) that
 * match drill, level, drillId and state; their raises (followed through earlier raises); then every envelope of the
 * channel accepted in [since, until), every envelope of those threads, and every envelope referring to one of them.
 */
export function bundleScope(events: readonly AuditEvent[], filter: TimingFilter): BundleScope {
  const all = envelopeEvents(events);
  const inWindow = (e: EnvelopeEvent) =>
    (filter.channel === undefined || e.data.channel === filter.channel) &&
    (filter.since === undefined || e.event.at >= filter.since) &&
    (filter.until === undefined || e.event.at < filter.until);
  const drill = filter.drill ?? 'all';
  const selected = (e: EnvelopeEvent) =>
    e.kind === 'notice' &&
    inWindow(e) &&
    (drill === 'all' || (drill === 'drill') === (e.data.drill !== null)) &&
    (filter.level === undefined || e.data.level === filter.level) &&
    (filter.drillId === undefined || e.data.drill?.drillId === filter.drillId) &&
    (filter.state === undefined || e.data.fromState === filter.state || e.data.toState === filter.state);
  const notices = all.filter(selected).map((e) => e.data.id);
  const threads = new Set(notices);
  const rootOf = new Map<string, string>();
  for (const e of all) {
    if (e.kind === 'notice') rootOf.set(e.data.id, e.data.id);
    else if (e.kind === 'raise') {
      const root = rootOf.get(e.data.refs[0] ?? '');
      if (root !== undefined) {
        rootOf.set(e.data.id, root);
        if (threads.has(root)) threads.add(e.data.id);
      }
    }
  }
  const envelopes = all.filter((e) => inWindow(e) || threads.has(e.data.id) || e.data.refs.some((r) => threads.has(r)));
  return { notices, envelopes };
}
