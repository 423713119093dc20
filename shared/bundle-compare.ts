// Two relays as witnesses of each other: compares the review bundles of two relays that carried the same channel and lists where they disagree.
import { canonicalJson } from './canonical.ts';
import { timingFilterSchema, type BundleEnvelope, type ReviewBundle, type TimingRecord } from './review.ts';
import { DEFAULT_TIME_TOLERANCE_MS } from './trust/charter.ts';
import { signedCharterSchema } from './trust/documents.ts';

/** Every kind of difference a comparison reports. */
export const comparisonCodes = [
  /** Both bundles come from one relay key: nothing was cross-checked. */
  'SAME_RELAY',
  /** One envelope id, two different envelopes (receipt hash, header, recipients, body hash or signature). */
  'HASH_DIFFERS',
  /** An envelope bundle B holds is absent from bundle A although it falls inside A's scope. */
  'MISSING_IN_A',
  /** An envelope bundle A holds is absent from bundle B although it falls inside B's scope. */
  'MISSING_IN_B',
  /** The two relays' acceptance times of one envelope are further apart than the tolerance. */
  'TIME_DISAGREES',
  /** Two envelopes of one sender on one channel, recorded in a different order by the two relays. */
  'ORDER_DISAGREES',
  /** The two relays gave one envelope different acknowledgement spans (ackDeadline − acceptedAt). */
  'DEADLINE_DISAGREES',
  /** The timing records of one notice disagree on whether, by which ack, or in time it was acknowledged. */
  'RECORD_DISAGREES',
] as const;
export type ComparisonCode = (typeof comparisonCodes)[number];

/** The parts of a bundle envelope that must be identical on both relays. */
export type EnvelopePart = 'receipt.hash' | 'header' | 'recipients' | 'bodyHash' | 'sig';
/** The facts of a timing record two relays must agree on. */
export type RecordField = 'acked' | 'met' | 'ackId';

interface DifferenceOf<C extends ComparisonCode, D> {
  readonly code: C;
  /** The envelope (or notice) concerned; null for SAME_RELAY. */
  readonly id: string | null;
  /** One sentence naming both relays by the first 8 characters of their key. */
  readonly message: string;
  readonly details: Readonly<D>;
}

interface RecordFacts {
  readonly acked: boolean;
  readonly met: boolean | null;
  readonly ackId: string | null;
}

export type BundleDifference =
  | DifferenceOf<'SAME_RELAY', { relay: string }>
  | DifferenceOf<'HASH_DIFFERS', { parts: readonly EnvelopePart[]; hashA: string; hashB: string }>
  | DifferenceOf<'MISSING_IN_A' | 'MISSING_IN_B', { kind: string; channel: string; acceptedAt: number; auditSeq: number }>
  | DifferenceOf<'TIME_DISAGREES', { acceptedAtA: number; acceptedAtB: number; differenceMs: number; toleranceMs: number }>
  | DifferenceOf<
      'ORDER_DISAGREES',
      { from: string; channel: string; ids: readonly [string, string]; seqs: readonly [number, number]; auditSeqA: readonly [number, number]; auditSeqB: readonly [number, number] }
    >
  | DifferenceOf<'DEADLINE_DISAGREES', { spanA: number | null; spanB: number | null }>
  | DifferenceOf<'RECORD_DISAGREES', { fields: readonly RecordField[]; a: RecordFacts; b: RecordFacts }>;

export interface BundleComparison {
  readonly relays: { readonly a: string; readonly b: string };
  /** The tolerance used for acceptance times and for scope margins, in ms. */
  readonly toleranceMs: number;
  readonly differences: readonly BundleDifference[];
  readonly counts: {
    /** Envelope ids both bundles hold. */
    readonly common: number;
    readonly onlyInA: number;
    readonly onlyInB: number;
    /** Envelopes whose presence was checked on both sides: the common ones plus those reported MISSING_IN_A/B. */
    readonly comparedInScope: number;
    /** Envelopes only one bundle holds that fall (or may fall) outside the other's scope: not compared, not reported. */
    readonly outOfScopeUncompared: number;
  };
}

export interface CompareOptions {
  /** How far the relays' acceptance times may differ; default: the largest charter timeTolerance in either bundle, else 2 minutes. */
  readonly toleranceMs?: number;
}

/** A bundle's filter as the relay applied it, or null when it cannot be read (then nothing is taken to be in its scope). */
type Scope = ReturnType<typeof timingFilterSchema.parse> | null;

interface Side {
  readonly label: 'A' | 'B';
  readonly bundle: ReviewBundle;
  readonly name: string;
  readonly byId: ReadonlyMap<string, BundleEnvelope>;
  readonly scope: Scope;
}

function sideOf(label: 'A' | 'B', bundle: ReviewBundle): Side {
  const parsed = timingFilterSchema.safeParse(bundle.filter);
  return {
    label,
    bundle,
    name: `relay ${bundle.relay.slice(0, 8)}`,
    byId: new Map(bundle.envelopes.map((e) => [e.header.id, e])),
    scope: parsed.success ? parsed.data : null,
  };
}

/** The largest timeTolerance among the charters either bundle holds (the laxest reading: fewer false alarms), or null. */
function charterTolerance(bundles: readonly ReviewBundle[]): number | null {
  let tolerance: number | null = null;
  for (const doc of bundles.flatMap((b) => b.trust.charters)) {
    const parsed = signedCharterSchema.safeParse(doc);
    if (parsed.success) tolerance = Math.max(tolerance ?? 0, parsed.data.charter.timeTolerance);
  }
  return tolerance;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function duration(ms: number | null): string {
  if (ms === null) return 'no deadline';
  const abs = Math.abs(ms);
  if (abs >= 3600_000) return `${+(ms / 3600_000).toFixed(2)} h`;
  if (abs >= 60_000) return `${+(ms / 60_000).toFixed(2)} min`;
  if (abs >= 1000) return `${+(ms / 1000).toFixed(2)} s`;
  return `${ms} ms`;
}

function differingParts(x: BundleEnvelope, y: BundleEnvelope): EnvelopePart[] {
  const parts: EnvelopePart[] = [];
  if (x.receipt.hash !== y.receipt.hash) parts.push('receipt.hash');
  if (canonicalJson(x.header) !== canonicalJson(y.header)) parts.push('header');
  if (canonicalJson(x.recipients) !== canonicalJson(y.recipients)) parts.push('recipients');
  if (x.bodyHash !== y.bodyHash) parts.push('bodyHash');
  if (x.sig !== y.sig) parts.push('sig');
  return parts;
}

function deadlineSpan(e: BundleEnvelope): number | null {
  return e.receipt.ackDeadline === null ? null : e.receipt.ackDeadline - e.receipt.acceptedAt;
}

/** HASH_DIFFERS, TIME_DISAGREES and DEADLINE_DISAGREES of one envelope both bundles hold. */
function compareCommon(x: BundleEnvelope, y: BundleEnvelope, a: Side, b: Side, toleranceMs: number): BundleDifference[] {
  const id = x.header.id;
  const found: BundleDifference[] = [];
  const parts = differingParts(x, y);
  if (parts.length) {
    found.push({
      code: 'HASH_DIFFERS',
      id,
      message: `envelope ${id}: ${a.name} and ${b.name} hold different envelopes under this id (${parts.join(', ')} differ): one of them altered or substituted it`,
      details: { parts, hashA: x.receipt.hash, hashB: y.receipt.hash },
    });
  }
  const differenceMs = y.receipt.acceptedAt - x.receipt.acceptedAt;
  if (Math.abs(differenceMs) > toleranceMs) {
    found.push({
      code: 'TIME_DISAGREES',
      id,
      message: `envelope ${id}: ${a.name} says it accepted it at ${iso(x.receipt.acceptedAt)}, ${b.name} at ${iso(y.receipt.acceptedAt)}, ${duration(Math.abs(differenceMs))} apart (tolerance ${duration(toleranceMs)})`,
      details: { acceptedAtA: x.receipt.acceptedAt, acceptedAtB: y.receipt.acceptedAt, differenceMs, toleranceMs },
    });
  }
  const spanA = deadlineSpan(x);
  const spanB = deadlineSpan(y);
  if (spanA !== spanB) {
    found.push({
      code: 'DEADLINE_DISAGREES',
      id,
      message: `envelope ${id}: ${a.name} gave ${duration(spanA)} to acknowledge it, ${b.name} ${duration(spanB)}`,
      details: { spanA, spanB },
    });
  }
  return found;
}

/** The notice a thread envelope belongs to (following first refs through both bundles), or null when not found. */
function rootNotice(e: BundleEnvelope, sides: readonly Side[]): BundleEnvelope | null {
  let current: BundleEnvelope | undefined = e;
  for (let hops = 0; current && hops < 8; hops++) {
    if (current.header.kind === 'notice') return current;
    const ref: string | undefined = current.header.refs[0];
    if (ref === undefined) return null;
    current = sides.map((s): BundleEnvelope | undefined => s.byId.get(ref)).find((found) => found !== undefined);
  }
  return null;
}

/**
 * Whether `e`, which only the other bundle holds, falls inside `side`'s scope. Conservative on purpose: an envelope
 * counts as in scope only when all of these hold, and is otherwise left uncompared (never reported missing):
 *  - the side's filter could be read, and its channel filter is absent or names e's channel;
 *  - e was accepted (by the relay that holds it) at or before the side's generatedAt − tolerance, so the side's relay
 *    should have had it when it exported;
 *  - e's acceptance time lies in the side's [since + tolerance, until − tolerance), where since/until are given;
 *  - when the side filters records by drill, level, drillId or state, e's thread notice is found in either bundle
 *    and passes those filters (the relay exports a filtered record's whole thread; we do not assume it exports more).
 */
function inScope(e: BundleEnvelope, side: Side, toleranceMs: number, sides: readonly Side[]): boolean {
  const f = side.scope;
  const at = e.receipt.acceptedAt;
  if (f === null) return false;
  if (f.channel !== undefined && f.channel !== e.header.channel) return false;
  if (at > side.bundle.generatedAt - toleranceMs) return false;
  if (f.since !== undefined && at < f.since + toleranceMs) return false;
  if (f.until !== undefined && at >= f.until - toleranceMs) return false;
  const filtersRecords = f.drill !== 'all' || f.level !== undefined || f.drillId !== undefined || f.state !== undefined;
  if (!filtersRecords) return true;
  const root = rootNotice(e, sides);
  if (!root) return false;
  const h = root.header;
  if (f.drill === 'drill' && h.drill === null) return false;
  if (f.drill === 'real' && h.drill !== null) return false;
  if (f.level !== undefined && h.level !== f.level) return false;
  if (f.drillId !== undefined && h.drill?.drillId !== f.drillId) return false;
  return f.state === undefined || h.fromState === f.state || h.toState === f.state;
}

/** MISSING_IN_<lacking> for each envelope only `holder` has that falls in `lacking`'s scope; counts the others. */
function compareMissing(holder: Side, lacking: Side, toleranceMs: number, sides: readonly Side[]): { missing: BundleDifference[]; only: number; uncompared: number } {
  const missing: BundleDifference[] = [];
  let only = 0;
  for (const e of holder.bundle.envelopes) {
    if (lacking.byId.has(e.header.id)) continue;
    only++;
    if (!inScope(e, lacking, toleranceMs, sides)) continue;
    const h = e.header;
    missing.push({
      code: lacking.label === 'A' ? 'MISSING_IN_A' : 'MISSING_IN_B',
      id: h.id,
      message: `envelope ${h.id} (${h.kind} on ${h.channel}, accepted by ${holder.name} at ${iso(e.receipt.acceptedAt)}) is missing from the bundle of ${lacking.name}, although it falls inside that bundle's scope`,
      details: { kind: h.kind, channel: h.channel, acceptedAt: e.receipt.acceptedAt, auditSeq: e.receipt.auditSeq },
    });
  }
  return { missing, only, uncompared: only - missing.length };
}

/**
 * ORDER_DISAGREES: the common envelopes of each sender on each channel, in A's audit order; wherever B's audit order
 * differs for two neighbours, the pair is reported, with the sender's own header.seq saying which relay kept its order.
 */
function compareOrder(common: readonly (readonly [BundleEnvelope, BundleEnvelope])[], a: Side, b: Side): BundleDifference[] {
  const groups = new Map<string, (readonly [BundleEnvelope, BundleEnvelope])[]>();
  for (const pair of common) {
    const key = `${pair[0].header.from} ${pair[0].header.channel}`;
    groups.set(key, [...(groups.get(key) ?? []), pair]);
  }
  const found: BundleDifference[] = [];
  for (const group of groups.values()) {
    group.sort((p, q) => p[0].receipt.auditSeq - q[0].receipt.auditSeq);
    for (let i = 1; i < group.length; i++) {
      const [x, y] = [group[i - 1], group[i]] as [readonly [BundleEnvelope, BundleEnvelope], readonly [BundleEnvelope, BundleEnvelope]];
      if (x[1].receipt.auditSeq < y[1].receipt.auditSeq) continue;
      found.push(orderDifference(x, y, a, b));
    }
  }
  return found;
}

function orderDifference(x: readonly [BundleEnvelope, BundleEnvelope], y: readonly [BundleEnvelope, BundleEnvelope], a: Side, b: Side): BundleDifference {
  const [first, second] = x[0].header.seq <= y[0].header.seq ? [x, y] : [y, x];
  const h1 = first[0].header;
  const h2 = second[0].header;
  const keeps = (i: 0 | 1) => first[i].receipt.auditSeq < second[i].receipt.auditSeq;
  const verdict = keeps(0) ? `${a.name} recorded them in that order, ${b.name} the other way round` : `${b.name} recorded them in that order, ${a.name} the other way round`;
  return {
    code: 'ORDER_DISAGREES',
    id: h2.id,
    message: `sender ${h1.from.slice(0, 8)} sent ${h1.id} (seq ${h1.seq}) before ${h2.id} (seq ${h2.seq}) on ${h1.channel}; ${verdict}`,
    details: {
      from: h1.from,
      channel: h1.channel,
      ids: [h1.id, h2.id],
      seqs: [h1.seq, h2.seq],
      auditSeqA: [first[0].receipt.auditSeq, second[0].receipt.auditSeq],
      auditSeqB: [first[1].receipt.auditSeq, second[1].receipt.auditSeq],
    },
  };
}

function factsOf(r: TimingRecord): RecordFacts {
  return { acked: r.ackedAt !== null, met: r.met, ackId: r.ackId };
}

function describeFacts(f: RecordFacts): string {
  if (!f.acked) return 'it not acknowledged';
  return `it acknowledged by ${f.ackId ?? '(unknown)'}${f.met === null ? '' : f.met ? ', in time' : ', late'}`;
}

/**
 * The facts two records of one notice disagree on. An ack one side lacks counts only when it was accepted at or before
 * the other side's generatedAt − tolerance; met is compared only when both sides have decided it (an unacked notice
 * turns from null to false as time passes, so two exports at different times may differ there honestly).
 */
function recordFields(x: TimingRecord, y: TimingRecord, a: Side, b: Side, toleranceMs: number): RecordField[] {
  const fa = factsOf(x);
  const fb = factsOf(y);
  if (fa.acked && fb.acked) {
    const fields: RecordField[] = [];
    if (fa.ackId !== fb.ackId) fields.push('ackId');
    if (fa.met !== null && fb.met !== null && fa.met !== fb.met) fields.push('met');
    return fields;
  }
  if (fa.acked !== fb.acked) {
    const [ackedAt, lacking] = fa.acked ? [x.ackedAt, b] : [y.ackedAt, a];
    return ackedAt !== null && ackedAt <= lacking.bundle.generatedAt - toleranceMs ? ['acked', 'ackId'] : [];
  }
  return [];
}

function compareRecords(a: Side, b: Side, toleranceMs: number): BundleDifference[] {
  const inB = new Map(b.bundle.records.map((r) => [r.id, r]));
  const found: BundleDifference[] = [];
  for (const x of a.bundle.records) {
    const y = inB.get(x.id);
    if (!y) continue;
    const fields = recordFields(x, y, a, b, toleranceMs);
    if (!fields.length) continue;
    found.push({
      code: 'RECORD_DISAGREES',
      id: x.id,
      message: `notice ${x.id}: ${a.name} records ${describeFacts(factsOf(x))}, ${b.name} records ${describeFacts(factsOf(y))}`,
      details: { fields, a: factsOf(x), b: factsOf(y) },
    });
  }
  return found;
}

/**
 * Cross-checks the review bundles of two relays that carried the same channel (a PoC sends every envelope, signed
 * once, to each of its relays): each relay is a witness of the other. Lists every difference (see comparisonCodes)
 * and counts the envelopes compared; an envelope only one bundle holds is reported missing only when it falls inside
 * the other bundle's scope (see inScope), else it is counted as uncompared.
 *
 * Pure and signature-blind: it does NOT verify any signature, hash or audit chain. Verify each bundle first with
 * verifyReviewBundle (pinning each relay key), then compare.
 *
 * @example
 * verifyReviewBundle(a, { relayKid: relayA }); verifyReviewBundle(b, { relayKid: relayB });
 * for (const line of comparisonLines(compareBundles(a, b))) console.log(line);
 */
export function compareBundles(a: ReviewBundle, b: ReviewBundle, options: CompareOptions = {}): BundleComparison {
  const toleranceMs = options.toleranceMs ?? charterTolerance([a, b]) ?? DEFAULT_TIME_TOLERANCE_MS;
  const relays = { a: a.relay, b: b.relay };
  if (a.relay === b.relay) {
    const relay = a.relay;
    return {
      relays,
      toleranceMs,
      differences: [
        { code: 'SAME_RELAY', id: null, message: `both bundles come from relay ${relay.slice(0, 8)}: a relay cannot witness itself; compare bundles of two different relays`, details: { relay } },
      ],
      counts: { common: 0, onlyInA: 0, onlyInB: 0, comparedInScope: 0, outOfScopeUncompared: 0 },
    };
  }
  const sa = sideOf('A', a);
  const sb = sideOf('B', b);
  const sides = [sa, sb];
  const common: (readonly [BundleEnvelope, BundleEnvelope])[] = [];
  for (const x of a.envelopes) {
    const y = sb.byId.get(x.header.id);
    if (y) common.push([x, y]);
  }
  const missingInB = compareMissing(sa, sb, toleranceMs, sides);
  const missingInA = compareMissing(sb, sa, toleranceMs, sides);
  const differences = [
    ...common.flatMap(([x, y]) => compareCommon(x, y, sa, sb, toleranceMs)),
    ...missingInB.missing,
    ...missingInA.missing,
    ...compareOrder(common, sa, sb),
    ...compareRecords(sa, sb, toleranceMs),
  ];
  return {
    relays,
    toleranceMs,
    differences,
    counts: {
      common: common.length,
      onlyInA: missingInB.only,
      onlyInB: missingInA.only,
      comparedInScope: common.length + missingInB.missing.length + missingInA.missing.length,
      outOfScopeUncompared: missingInB.uncompared + missingInA.uncompared,
    },
  };
}

/** A comparison for people: a summary line, then one line per difference. */
export function comparisonLines(c: BundleComparison): string[] {
  const [a, b] = [c.relays.a.slice(0, 8), c.relays.b.slice(0, 8)];
  const same = c.differences.find((d) => d.code === 'SAME_RELAY');
  if (same) return [`SAME_RELAY: ${same.message}`];
  const { common, onlyInA, onlyInB, outOfScopeUncompared } = c.counts;
  const lines = [
    `Compared relay ${a} (A) with relay ${b} (B): ${common} envelopes in both, ${onlyInA} only in A, ${onlyInB} only in B ` +
      `(${outOfScopeUncompared} of those outside the other's scope, not compared); time tolerance ${duration(c.toleranceMs)}.`,
  ];
  if (!c.differences.length) return [...lines, 'The two relays agree on everything compared.'];
  lines.push(`${c.differences.length} difference${c.differences.length === 1 ? '' : 's'}:`);
  for (const d of c.differences) lines.push(`  ${d.code}: ${d.message}`);
  return lines;
}
