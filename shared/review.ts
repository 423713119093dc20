// Reviewer wire types: token requests, timing records and aggregates, query filters, and the export bundle (metadata only, never bodies).
import { z } from 'zod';
import { escalationActions } from './escalation.ts';
import { bundleManifestSchema } from './evidence/manifest.ts';
import {
  auditCheckpointSchema,
  auditEventSchema,
  channelIdSchema,
  drillMarkSchema,
  keyIdSchema,
  levelSchema,
  nameSchema,
  roleSchema,
  signedPartsSchema,
  signatureSchema,
  stateCodeSchema,
  timestampSchema,
  uuidSchema,
} from './schemas.ts';

/** Signature context of a reviewer's token request: signStatement(identity, REVIEW_TOKEN_CTX, {kid, at, relay}). */
export const REVIEW_TOKEN_CTX = 'hotline-review-token-v1';
/** How far a token request's `at` may be from the relay clock. */
export const REVIEW_TOKEN_SKEW_MS = 2 * 60_000;
/** Default lifetime of a reviewer token. */
export const REVIEW_TOKEN_TTL_MS = 12 * 3600_000;
/** Name of the export bundle format; `hotline verify` refuses others. */
export const REVIEW_BUNDLE_FORMAT = 'hotline-review-bundle-v1';

export const reviewTokenRequestSchema = z.strictObject({
  kid: keyIdSchema,
  at: timestampSchema,
  sig: signatureSchema,
});
export type ReviewTokenRequest = z.infer<typeof reviewTokenRequestSchema>;

export const adminReviewTokenRequestSchema = z.strictObject({
  name: nameSchema.optional(),
  ttlMs: z.number().int().min(60_000).max(7 * 24 * 3600_000).optional(),
});

export const reviewTokenResponseSchema = z.strictObject({
  token: z.string().min(20).max(200),
  expiresAt: timestampSchema,
});
export type ReviewTokenResponse = z.infer<typeof reviewTokenResponseSchema>;

export const drillSelections = ['all', 'drill', 'real'] as const;
export type DrillSelection = (typeof drillSelections)[number];
export const timeBuckets = ['hour', 'day'] as const;
export type TimeBucket = (typeof timeBuckets)[number];

/** Which notices a report covers. Times are relay acceptance times (ms); `state` matches either party. */
export const timingFilterSchema = z.strictObject({
  channel: channelIdSchema.optional(),
  since: timestampSchema.optional(),
  until: timestampSchema.optional(),
  drill: z.enum(drillSelections).default('all'),
  level: levelSchema.optional(),
  drillId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  state: stateCodeSchema.optional(),
});
export type TimingFilter = z.input<typeof timingFilterSchema>;

const intFromQuery = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const timeFromQuery = z.union([
  z.string().regex(/^\d{1,16}$/).transform(Number),
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+Z?)?$/, 'a time: milliseconds since the epoch or an ISO date such as 2026-12-01T12:00Z')
    .transform((s, ctx) => {
      const ms = Date.parse(/[zZ]$|^\d{4}-\d{2}-\d{2}$/.test(s) ? s : `${s}Z`);
      if (Number.isNaN(ms)) {
        ctx.addIssue({ code: 'custom', message: `not a time: ${s}` });
        return z.NEVER;
      }
      return ms;
    }),
]);

/** Query string of /v1/review/records, /aggregates and /export (every value arrives as text). */
export const reviewQuerySchema = z.strictObject({
  channel: channelIdSchema.optional(),
  since: timeFromQuery.optional(),
  until: timeFromQuery.optional(),
  drill: z.enum(drillSelections).default('all'),
  level: z
    .string()
    .transform((s) => s.trim().toUpperCase())
    .pipe(levelSchema)
    .optional(),
  drillId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  state: z
    .string()
    .transform((s) => s.trim().toUpperCase())
    .pipe(stateCodeSchema)
    .optional(),
  limit: intFromQuery(1, 1000).default(50),
  offset: intFromQuery(0, 10_000_000).default(0),
  bucket: z.enum(timeBuckets).default('day'),
});
export type ReviewQuery = z.infer<typeof reviewQuerySchema>;

/** Query parameter names that ask for message content: a reviewer never gets it, so these are refused outright. */
export const contentQueryPattern = /body|bodies|plaintext|content|text|subject|decrypt/i;

export const escalationStepRecordSchema = z.strictObject({
  /** The notice or raise whose deadline this step belongs to. */
  id: uuidSchema,
  step: z.number().int().min(0),
  action: z.enum(escalationActions),
  due: timestampSchema,
  firedAt: timestampSchema.nullable(),
  cancelledAt: timestampSchema.nullable(),
  /** The audit event of the step when it fired. */
  auditSeq: z.number().int().min(1).nullable(),
});

export const raiseRecordSchema = z.strictObject({
  id: uuidSchema,
  level: levelSchema,
  acceptedAt: timestampSchema,
  ackDeadline: timestampSchema,
});

/**
 * One notice and its thread, timed from the relay's signed receipts. `ackDeadline` is the deadline the first ack is
 * judged against: the latest one of the thread (notice or raise) accepted before that ack, as the relay judges it.
 */
export const timingRecordSchema = z.strictObject({
  id: uuidSchema,
  channel: channelIdSchema,
  kind: z.literal('notice'),
  fromState: stateCodeSchema,
  toState: stateCodeSchema,
  level: levelSchema,
  drill: drillMarkSchema.nullable(),
  from: keyIdSchema,
  fromName: z.string().nullable(),
  /** Sender clock (header.createdAt). */
  sentAt: timestampSchema,
  acceptedAt: timestampSchema,
  /** acceptedAt − sentAt: how far the sender's clock is behind the relay's (negative: ahead). */
  clockSkewMs: z.number().int(),
  /** acceptedAt of the first signed delivery receipt from the recipient state; null when none yet. */
  deliveredAt: timestampSchema.nullable(),
  /** Recipient-state devices that signed a delivery receipt. */
  deliveredTo: z.number().int().min(0),
  ackedAt: timestampSchema.nullable(),
  ackId: uuidSchema.nullable(),
  ackedBy: z.strictObject({ kid: keyIdSchema, name: z.string().nullable() }).nullable(),
  ackDeadline: timestampSchema,
  /** true: acked by the deadline; false: acked late, or not acked and past due; null: not acked and not yet due. */
  met: z.boolean().nullable(),
  lateByMs: z.number().int().min(0).nullable(),
  timeToAckMs: z.number().int().nullable(),
  escalation: z.array(escalationStepRecordSchema),
  raises: z.array(raiseRecordSchema),
});
export type TimingRecord = z.infer<typeof timingRecordSchema>;

export const timingRecordsPageSchema = z.strictObject({
  total: z.number().int().min(0),
  limit: z.number().int().min(1),
  offset: z.number().int().min(0),
  /** Relay time the page was computed at (decides met: null vs false for unacked notices). */
  now: timestampSchema,
  records: z.array(timingRecordSchema),
});
export type TimingRecordsPage = z.infer<typeof timingRecordsPageSchema>;

/** Figures of one group of notices. Times in ms; percentiles interpolate linearly (percentile_cont). */
export const timingStatsSchema = z.strictObject({
  key: z.string(),
  count: z.number().int().min(0),
  acked: z.number().int().min(0),
  /** Notices whose outcome is known: acked, or unacked and past due. */
  decided: z.number().int().min(0),
  met: z.number().int().min(0),
  medianMs: z.number().int().nullable(),
  p95Ms: z.number().int().nullable(),
  maxMs: z.number().int().nullable(),
  /** met / decided; null when nothing is decided yet. */
  withinDeadline: z.number().min(0).max(1).nullable(),
});
export type TimingStats = z.infer<typeof timingStatsSchema>;

export const timingSeriesPointSchema = z.strictObject({
  /** Start of the bucket (UTC), ms. */
  t: timestampSchema,
  level: levelSchema,
  count: z.number().int().min(0),
  medianMs: z.number().int().nullable(),
  withinDeadline: z.number().min(0).max(1).nullable(),
});
export type TimingSeriesPoint = z.infer<typeof timingSeriesPointSchema>;

export const timingAggregatesSchema = z.strictObject({
  now: timestampSchema,
  overall: timingStatsSchema,
  byLevel: z.array(timingStatsSchema),
  /** Per recipient state (the side that must acknowledge). */
  byState: z.array(timingStatsSchema),
  /** key 'drill' or 'real'. */
  byDrill: z.array(timingStatsSchema),
  series: z.strictObject({ bucket: z.enum(timeBuckets), points: z.array(timingSeriesPointSchema) }),
});
export type TimingAggregates = z.infer<typeof timingAggregatesSchema>;

/** An envelope as a bundle holds it: everything the signature covers except the body, which only its hash stands for. */
export const bundleEnvelopeSchema = signedPartsSchema;
export type BundleEnvelope = z.infer<typeof bundleEnvelopeSchema>;

export const rosterEntrySchema = z.strictObject({
  kid: keyIdSchema,
  state: stateCodeSchema,
  role: roleSchema,
  name: nameSchema,
  revokedAt: timestampSchema.nullable(),
});
export type RosterEntry = z.infer<typeof rosterEntrySchema>;

/** What `hotline review export` writes and `hotline verify` checks offline. */
export const reviewBundleSchema = z.strictObject({
  format: z.literal(REVIEW_BUNDLE_FORMAT),
  relay: keyIdSchema,
  generatedAt: timestampSchema,
  filter: z.record(z.string(), z.unknown()),
  roster: z.array(rosterEntrySchema),
  /** Every version of the charters and rosters the envelopes name, as the authorities signed them. */
  trust: z
    .strictObject({ charters: z.array(z.record(z.string(), z.unknown())), rosters: z.array(z.record(z.string(), z.unknown())) })
    .default({ charters: [], rosters: [] }),
  envelopes: z.array(bundleEnvelopeSchema),
  audit: z.strictObject({ events: z.array(auditEventSchema), checkpoints: z.array(auditCheckpointSchema) }),
  records: z.array(timingRecordSchema),
  /** The relay's signed statement of what the bundle holds (absent from first-wave bundles, which cannot be shown complete). */
  manifest: bundleManifestSchema.optional(),
});
export type ReviewBundle = z.infer<typeof reviewBundleSchema>;

/** Columns of the records CSV (`hotline review report --csv` and the dashboard's GET /v1/review/records.csv): one row per notice. */
export const timingCsvColumns = [
  'id', 'channel', 'fromState', 'toState', 'level', 'drillId', 'inject', 'from', 'sentAt', 'acceptedAt', 'clockSkewMs', 'deliveredAt', 'deliveredTo',
  'ackedAt', 'ackId', 'ackedBy', 'ackDeadline', 'met', 'lateByMs', 'timeToAckMs', 'raises', 'escalationsFired',
] as const;

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV line (no line break) of a timing record, in the order of `timingCsvColumns`; times as ISO 8601 UTC. */
export function timingCsvRow(r: TimingRecord): string {
  const iso = (n: number | null) => (n === null ? '' : new Date(n).toISOString());
  const values: Record<(typeof timingCsvColumns)[number], unknown> = {
    id: r.id, channel: r.channel, fromState: r.fromState, toState: r.toState, level: r.level, drillId: r.drill?.drillId ?? '', inject: r.drill?.inject ?? '',
    from: r.from, sentAt: iso(r.sentAt), acceptedAt: iso(r.acceptedAt), clockSkewMs: r.clockSkewMs, deliveredAt: iso(r.deliveredAt), deliveredTo: r.deliveredTo,
    ackedAt: iso(r.ackedAt), ackId: r.ackId, ackedBy: r.ackedBy?.kid ?? '', ackDeadline: iso(r.ackDeadline), met: r.met, lateByMs: r.lateByMs, timeToAckMs: r.timeToAckMs,
    raises: r.raises.length, escalationsFired: r.escalation.filter((s) => s.firedAt !== null).map((s) => s.action).join(' '),
  };
  return timingCsvColumns.map((c) => csvCell(values[c])).join(',');
}

/** The header line of the records CSV. */
export const timingCsvHeader = timingCsvColumns.join(',');

/** How one asked key answered a communication check: `open` while it has not acknowledged and the check's time is not up. */
export const checkOutcomes = ['answered', 'late', 'missing', 'open'] as const;
export type CheckOutcome = (typeof checkOutcomes)[number];

/** One key a communication check asked (metadata only: who, when its device got it, when its person acknowledged). */
export const checkTargetResultSchema = z.strictObject({
  kid: keyIdSchema,
  state: stateCodeSchema,
  role: roleSchema,
  name: z.string(),
  /** Relay time of the device's signed receipt. */
  receivedAt: timestampSchema.nullable(),
  /** Relay time of the person's signed ack. */
  ackedAt: timestampSchema.nullable(),
  outcome: z.enum(checkOutcomes),
});
export type CheckTargetResult = z.infer<typeof checkTargetResultSchema>;

/**
 * A communication check as a reviewer may see it: only the asked keys of the states its grant covers, and the counts
 * over those keys alone (a check none of whose asked keys is in scope is not listed).
 */
export const checkResultSchema = z.strictObject({
  checkId: z.string().regex(/^chk-[0-9a-f-]{36}$/),
  /** 'admin', 'schedule', or who started it. */
  startedBy: z.string(),
  /** The one state asked, or null: every state. */
  targetState: stateCodeSchema.nullable(),
  withinMs: z.number().int().min(1),
  startedAt: timestampSchema,
  deadline: timestampSchema,
  endedAt: timestampSchema.nullable(),
  asked: z.number().int().min(0),
  answered: z.number().int().min(0),
  late: z.number().int().min(0),
  missing: z.number().int().min(0),
  open: z.number().int().min(0),
  targets: z.array(checkTargetResultSchema),
});
export type CheckResult = z.infer<typeof checkResultSchema>;

export const checkResultsPageSchema = z.strictObject({
  total: z.number().int().min(0),
  limit: z.number().int().min(1),
  offset: z.number().int().min(0),
  now: timestampSchema,
  /** The states whose asked keys are shown; null: every state (the operator, unfiltered). */
  states: z.array(stateCodeSchema).nullable(),
  checks: z.array(checkResultSchema),
});
export type CheckResultsPage = z.infer<typeof checkResultsPageSchema>;
