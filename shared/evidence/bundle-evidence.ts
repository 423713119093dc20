// The evidence checks of an export bundle beyond signatures: completeness against the manifest and the audit chain, names from signed rosters, escalation steps against the charter's policy, times, and witness statements.
import { canonicalJson } from '../canonical.ts';
import { escalationAuditType, escalationSchedule, type EscalationPolicy } from '../escalation.ts';
import { HotlineError } from '../errors.ts';
import type { BundleEnvelope, ReviewBundle, TimingRecord } from '../review.ts';
import { timingFilterSchema } from '../review.ts';
import type { AuditEvent, EnvelopeHeader, WitnessStatement } from '../schemas.ts';
import { DEFAULT_TIME_TOLERANCE_MS } from '../trust/charter.ts';
import type { CharterBody } from '../trust/documents.ts';
import type { TrustView } from '../trust/standing.ts';
import { verifyManifest } from './manifest.ts';
import { bundleScope } from './scope.ts';
import { acceptanceDispute, type DisputedTime } from './times.ts';
import { verifyWitness, witnessFromAuditData } from './witness.ts';

/** A verification failure: the bundle contradicts its signed data (BAD). */
export function fail(message: string): never {
  throw new HotlineError('BAD_SIGNATURE', message);
}

/** Equal as canonical JSON (absent and null alike). */
export const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);
const short = (id: string) => id.slice(0, 13);

/** The charter a header names (v2, v3), or null for a first-wave envelope. */
export function charterOf(view: TrustView, h: EnvelopeHeader): CharterBody | null {
  return h.trust === undefined ? null : view.charter(h.channel, h.trust.charter.version);
}

export function toleranceOf(view: TrustView, h: EnvelopeHeader): number {
  return charterOf(view, h)?.timeTolerance ?? DEFAULT_TIME_TOLERANCE_MS;
}

/** The name a state's signed roster gives `kid` in the version the header names; undefined when the header names no roster or the key is not in it. */
export function signedName(view: TrustView, h: EnvelopeHeader, state: string, kid: string): string | undefined {
  const ref = h.trust?.rosters[state];
  if (ref === undefined) return undefined;
  return view.roster(state, ref.version)?.members.find((m) => m.kid === kid)?.name;
}

/**
 * The manifest is the relay's signed word on what the bundle holds: its time, filter, head, last checkpoint, the
 * envelopes and the records, each exactly as in the bundle.
 */
export function checkManifest(bundle: ReviewBundle): void {
  const m = bundle.manifest;
  if (!m) return;
  verifyManifest(m, bundle.relay);
  if (m.generatedAt !== bundle.generatedAt) fail(`the bundle says it was made at ${bundle.generatedAt}; its signed manifest says ${m.generatedAt}`);
  const lastAt = bundle.audit.events[bundle.audit.events.length - 1]?.at ?? 0;
  if (m.generatedAt < lastAt) fail(`the manifest dates the bundle ${new Date(m.generatedAt).toISOString()}, before its own last audit event (${new Date(lastAt).toISOString()}): back-dated`);
  if (!same(m.filter, bundle.filter)) fail('the bundle filter is not the one its manifest signs');
  const events = bundle.audit.events;
  const last = events[events.length - 1];
  if (!last || last.seq !== m.head.seq || last.hash !== m.head.hash) {
    fail(`the manifest signs the audit chain up to event ${m.head.seq}; the bundle's chain ends at ${last?.seq ?? 'nothing'} (cut back, or extended)`);
  }
  const lastCheckpoint = bundle.audit.checkpoints[bundle.audit.checkpoints.length - 1]?.seq ?? null;
  if (lastCheckpoint !== m.checkpoint) fail(`the manifest names checkpoint ${String(m.checkpoint)} as the last; the bundle's last is ${String(lastCheckpoint)} (a checkpoint was removed)`);
  const hashes = bundle.envelopes.map((e) => e.receipt.hash);
  if (!same(hashes, m.envelopes)) {
    const held = new Set(hashes);
    const signed = new Set(m.envelopes);
    const lacking = m.envelopes.filter((h) => !held.has(h)).length;
    const extra = hashes.filter((h) => !signed.has(h)).length;
    fail(`the bundle's envelopes are not the ones its manifest lists (${lacking} listed but absent, ${extra} present but not listed${lacking + extra === 0 ? ', or reordered' : ''})`);
  }
  if (!same(bundle.records.map((r) => r.id), m.records)) fail("the bundle's timing records are not the ones its manifest lists (removed, duplicated or reordered)");
}

/**
 * What the audit chain says must be in the bundle: every envelope the filter covers (by the scope rule), each exactly
 * once, and one timing record per notice. Needs no manifest: a hand-edited bundle that drops an ack, a raise, a
 * receipt or a notice still carries the audit event recording it.
 */
export function checkScope(bundle: ReviewBundle): void {
  const parsed = timingFilterSchema.safeParse(bundle.filter);
  if (!parsed.success) fail('the bundle filter is not a valid filter');
  const scope = bundleScope(bundle.audit.events, parsed.data);
  const held = new Map(bundle.envelopes.map((e) => [e.receipt.hash, e]));
  for (const e of scope.envelopes) {
    if (!held.has(e.data.hash)) fail(`the audit chain records ${e.kind} ${e.data.id} (event ${e.event.seq}), which this bundle covers, but the bundle does not hold it`);
  }
  const inScope = new Set(scope.envelopes.map((e) => e.data.hash));
  for (const e of bundle.envelopes) if (!inScope.has(e.receipt.hash)) fail(`envelope ${e.header.id} is outside the bundle's filter`);
  const records = new Map<string, number>();
  for (const r of bundle.records) records.set(r.id, (records.get(r.id) ?? 0) + 1);
  for (const [id, n] of records) if (n > 1) fail(`timing record ${id} appears ${n} times`);
  for (const id of scope.notices) if (!records.has(id)) fail(`notice ${id} is covered by the filter but has no timing record`);
  const wanted = new Set(scope.notices);
  for (const id of records.keys()) if (!wanted.has(id)) fail(`timing record ${id} is for a notice outside the filter`);
}

/** Audit times follow audit order; receipts name their event's hash. */
export function checkAuditTimes(events: readonly AuditEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    const a = events[i - 1] as AuditEvent;
    const b = events[i] as AuditEvent;
    if (b.at < a.at) fail(`audit event ${b.seq} is dated ${new Date(b.at).toISOString()}, before event ${a.seq} (${new Date(a.at).toISOString()}): times out of audit order`);
  }
}

/** Names in records are the signed rosters' (or absent for a director, whom no roster names). */
export function checkRecordNames(r: TimingRecord, notice: BundleEnvelope, ack: BundleEnvelope | null, view: TrustView): void {
  const h = notice.header;
  const fromName = signedName(view, h, h.fromState, h.from);
  if (fromName !== undefined && r.fromName !== fromName) fail(`timing record ${r.id}: sender named ${JSON.stringify(r.fromName)}; ${h.fromState}'s signed roster names it ${JSON.stringify(fromName)}`);
  if (ack && r.ackedBy) {
    const ackName = signedName(view, ack.header, ack.header.fromState, ack.header.from);
    if (ackName !== undefined && r.ackedBy.name !== ackName) {
      fail(`timing record ${r.id}: acknowledged by ${JSON.stringify(r.ackedBy.name)}; ${ack.header.fromState}'s signed roster names that key ${JSON.stringify(ackName)}`);
    }
  }
}

/** The facts of a thread the escalation check needs. */
export interface ThreadFacts {
  readonly record: TimingRecord;
  /** The notice and its raises: each has its own deadline and steps. */
  readonly deadlines: readonly BundleEnvelope[];
  /** The recipient side's acks of the thread, in audit order: a deadline is closed by the first one after it. */
  readonly acks: readonly BundleEnvelope[];
  /** Signed time the bundle was made (the manifest's), against which "due but not fired" is judged. */
  readonly generatedAt: number;
}

/**
 * Every step of every deadline of the thread is in the record, with the due time the charter's policy gives; a step
 * the record calls fired has its audit event (same step, time, due); a step with an audit event is not called unfired
 * or cancelled; a cancelled step was cancelled by the first ack after its deadline's envelope, before it was due. Returns disputes for steps
 * due (by the signed export time) that never fired.
 */
export function checkEscalation(t: ThreadFacts, view: TrustView, fired: ReadonlyMap<string, AuditEvent>): DisputedTime[] {
  const disputes: DisputedTime[] = [];
  const where = `timing record ${t.record.id}`;
  const steps = new Map(t.record.escalation.map((s) => [`${s.id} ${s.step}`, s]));
  if (steps.size !== t.record.escalation.length) fail(`${where}: an escalation step is listed twice`);
  let expectedSteps = 0;
  for (const e of t.deadlines) {
    const charter = charterOf(view, e.header);
    if (!charter || e.receipt.ackDeadline === null) continue;
    const policy: EscalationPolicy = charter.escalation;
    const closing = t.acks.find((a) => a.receipt.auditSeq > e.receipt.auditSeq) ?? null;
    const tolerance = charter.timeTolerance;
    for (const s of escalationSchedule(e.receipt.acceptedAt, e.receipt.ackDeadline - e.receipt.acceptedAt, policy)) {
      expectedSteps++;
      const key = `${e.header.id} ${s.step}`;
      const shown = steps.get(key);
      const label = `${where}: escalation step ${s.action} of ${short(e.header.id)}…`;
      if (!shown) fail(`${label} is missing from the record`);
      if (shown.action !== s.action || shown.due !== s.due) fail(`${label} is shown due at ${shown.due} (${shown.action}); the charter's policy gives ${s.due}`);
      const event = fired.get(key);
      if (event) {
        if (shown.firedAt !== event.at || shown.auditSeq !== event.seq) fail(`${label} fired at ${event.at} (audit event ${event.seq}); the record shows ${String(shown.firedAt)}`);
        if (shown.cancelledAt !== null) fail(`${label} fired (audit event ${event.seq}) but the record calls it cancelled`);
        if (event.at < s.due) fail(`${label} fired at ${event.at}, before it was due (${s.due})`);
        continue;
      }
      if (shown.firedAt !== null || shown.auditSeq !== null) fail(`${label} is shown fired at ${String(shown.firedAt)}, but no audit event records it`);
      const ackedAt = closing?.receipt.acceptedAt ?? null;
      if (shown.cancelledAt !== null) {
        if (ackedAt === null || shown.cancelledAt !== ackedAt) fail(`${label} is shown cancelled at ${shown.cancelledAt}, which is not when an ack closed it (${String(ackedAt)})`);
        continue;
      }
      if (ackedAt !== null && ackedAt < s.due) fail(`${label} was due after the acknowledgement but is not shown cancelled`);
      const judgedAt = ackedAt ?? t.generatedAt;
      if (judgedAt - s.due > tolerance) {
        disputes.push({
          id: e.header.id,
          what: `escalation ${s.action}`,
          stated: s.due,
          evidence: judgedAt,
          byMs: judgedAt - s.due,
          message: `${label} was due at ${new Date(s.due).toISOString()} and never fired (${ackedAt === null ? 'the bundle was made' : 'the ack came'} ${Math.round((judgedAt - s.due) / 1000)} s later)`,
        });
      }
    }
  }
  if (expectedSteps > 0 && t.record.escalation.length !== expectedSteps) fail(`${where}: the record lists ${t.record.escalation.length} escalation steps; the charter's policy gives ${expectedSteps}`);
  return disputes;
}

/** Fired escalation steps in the chain, by "id step". */
export function firedSteps(events: readonly AuditEvent[]): Map<string, AuditEvent> {
  const out = new Map<string, AuditEvent>();
  const types = new Set(['deadline.overdue', escalationAuditType('page-alternates'), escalationAuditType('notify-sender')]);
  for (const e of events) {
    if (!types.has(e.type)) continue;
    const key = `${String(e.data.id)} ${String(e.data.step)}`;
    if (out.has(key)) fail(`escalation step ${key} fired twice in the audit chain`);
    out.set(key, e);
  }
  return out;
}

/** Every escalation event of a thread in the bundle is accounted for by its record. */
export function checkEscalationEventsAccounted(records: readonly TimingRecord[], fired: ReadonlyMap<string, AuditEvent>, threadIds: ReadonlySet<string>): void {
  const shown = new Set(records.flatMap((r) => r.escalation.map((s) => `${s.id} ${s.step}`)));
  for (const [key, e] of fired) {
    if (threadIds.has(String(e.data.id)) && !shown.has(key)) fail(`audit event ${e.seq} (${e.type} of ${String(e.data.id)}) is missing from its timing record`);
  }
}

/** Disputed times of envelopes: acceptedAt against the signer's createdAt; answers after what they answer. */
export function envelopeTimeDisputes(envelopes: readonly BundleEnvelope[], view: TrustView): DisputedTime[] {
  const byId = new Map(envelopes.map((e) => [e.header.id, e]));
  const out: DisputedTime[] = [];
  for (const e of envelopes) {
    const tolerance = toleranceOf(view, e.header);
    const d = acceptanceDispute(e.header, e.receipt, tolerance);
    if (d) out.push(d);
    const target = e.header.refs[0] === undefined ? undefined : byId.get(e.header.refs[0]);
    if (!target) continue;
    if (e.receipt.auditSeq < target.receipt.auditSeq || e.receipt.acceptedAt < target.receipt.acceptedAt) {
      fail(`${e.header.kind} ${e.header.id} is recorded before the ${target.header.kind} it answers`);
    }
    if (e.header.createdAt < target.header.createdAt - tolerance) {
      out.push({
        id: e.header.id,
        what: 'createdAt',
        stated: e.header.createdAt,
        evidence: target.header.createdAt,
        byMs: e.header.createdAt - target.header.createdAt,
        message: `${e.header.kind} ${e.header.id} is signed at ${new Date(e.header.createdAt).toISOString()}, before the ${target.header.kind} it answers was signed (${new Date(target.header.createdAt).toISOString()})`,
      });
    }
  }
  return out;
}

export interface WitnessCheck {
  /** Statements about this relay that were compared with the chain. */
  readonly compared: number;
  /** Statements made after the bundle (beyond its head): not comparable, so the bundle is not verifiable against them. */
  readonly later: number;
  /** Statements signed by keys no roster of the bundle lists for their state: verified, but no state's witness. */
  readonly unlisted: number;
  /** Statements about other relays (not comparable). */
  readonly otherRelays: number;
  /** Witness statements inside the chain (appended by the relay), each verified. */
  readonly inChain: number;
  readonly states: readonly string[];
}

/**
 * Witness statements — those appended to the chain and those a PoC kept — must agree with the chain: the event at
 * each witnessed seq has the witnessed hash, and no witnessed seq lies beyond the bundle's head (a truncated chain).
 */
export function checkWitnesses(bundle: ReviewBundle, kept: readonly WitnessStatement[], toleranceMs: number, members: ReadonlyMap<string, string>): WitnessCheck {
  const bySeq = new Map(bundle.audit.events.map((e) => [e.seq, e]));
  const lastSeq = bundle.audit.events[bundle.audit.events.length - 1]?.seq ?? 0;
  const states = new Set<string>();
  let inChain = 0;
  let later = 0;
  let unlisted = 0;
  const compare = (s: WitnessStatement, source: string, kept: boolean) => {
    // A kept statement counts only from a key its state's signed roster lists: anyone can sign a statement, and one
    // from outside the rosters (a key the operator enrolled, say) must not turn an honest bundle BAD.
    if (kept && members.get(s.kid) !== s.state) {
      unlisted++;
      return;
    }
    try {
      verifyWitness(s);
    } catch {
      fail(`${source}: the witness statement of ${short(s.kid)}… at event ${s.seq} does not verify`);
    }
    if (s.seq > lastSeq && s.at > bundle.generatedAt - toleranceMs) {
      later++;
      return;
    }
    if (s.seq > lastSeq) fail(`${source}: ${s.state} PoC ${short(s.kid)}… witnessed audit event ${s.seq}, but the bundle's chain ends at ${lastSeq} (cut back)`);
    const event = bySeq.get(s.seq);
    if (!event || event.hash !== s.head) fail(`${source}: ${s.state} PoC ${short(s.kid)}… witnessed another audit event ${s.seq} than the bundle holds: the history was rewritten`);
    // In the chain, a statement of any key must agree with it (the relay accepted it there); only roster members vouch for a state.
    if (members.get(s.kid) === s.state) states.add(s.state);
    else unlisted++;
  };
  for (const e of bundle.audit.events) {
    if (e.type !== 'witness') continue;
    inChain++;
    compare(witnessFromAuditData(bundle.relay, e.data), `audit event ${e.seq}`, false);
  }
  let compared = 0;
  let otherRelays = 0;
  for (const s of kept) {
    if (s.relay !== bundle.relay) {
      otherRelays++;
      continue;
    }
    const before = unlisted;
    compare(s, 'witness file', true);
    if (unlisted === before) compared++;
  }
  return { compared: compared - later, later, otherRelays, inChain, unlisted, states: [...states].sort() };
}

/**
 * The v3 sender chains among the bundle's envelopes: one envelope per (sender, channel, chanSeq); where two consecutive
 * links are both held, the later names the earlier's hash as prev; and the relay recorded them in chain order.
 * Links the bundle does not hold (outside its filter) are not a fault here: the relay refused a broken chain.
 */
export function checkSenderChains(envelopes: readonly BundleEnvelope[]): void {
  const chains = new Map<string, BundleEnvelope[]>();
  for (const e of envelopes) {
    if (e.header.v !== 3 || e.header.chanSeq === undefined) continue;
    const key = `${e.header.from} ${e.header.channel}`;
    const list = chains.get(key);
    if (list) list.push(e);
    else chains.set(key, [e]);
  }
  for (const list of chains.values()) {
    list.sort((a, b) => (a.header.chanSeq as number) - (b.header.chanSeq as number));
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1] as BundleEnvelope;
      const b = list[i] as BundleEnvelope;
      const where = `sender ${short(b.header.from)}… on ${b.header.channel}`;
      if (a.header.chanSeq === b.header.chanSeq) fail(`${where}: two envelopes claim chanSeq ${String(b.header.chanSeq)} (${a.header.id}, ${b.header.id})`);
      if ((b.header.chanSeq as number) === (a.header.chanSeq as number) + 1 && b.header.prev !== a.receipt.hash) {
        fail(`${where}: chanSeq ${String(b.header.chanSeq)} does not link to chanSeq ${String(a.header.chanSeq)}`);
      }
      if (b.receipt.auditSeq < a.receipt.auditSeq) fail(`${where}: chanSeq ${String(b.header.chanSeq)} is recorded before chanSeq ${String(a.header.chanSeq)}`);
    }
  }
}
