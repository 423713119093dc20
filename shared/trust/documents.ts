// Zod schemas of the trust documents: a state's signed roster and a channel's charter signed by both authorities.
import { z } from 'zod';
import { escalationPolicySchema, hashSchema, keyIdSchema, nameSchema, signatureSchema, stateCodeSchema, channelIdSchema, timestampSchema } from '../schemas.ts';

/** Roles a roster can give; drill directors are named by the charter, not by a state. */
export const rosterRoles = ['poc', 'alternate', 'reviewer'] as const;
export type RosterRole = (typeof rosterRoles)[number];
/** Roles that receive and may send a channel's envelopes. */
export const watchRoles: ReadonlySet<RosterRole> = new Set(['poc', 'alternate']);

export const trustLimits = {
  maxMembers: 200,
  maxDirectors: 16,
  maxReviewers: 32,
  /** Longest time tolerance a charter may set: a relay clock off by more than this is not a clock problem. */
  maxTimeToleranceMs: 3600_000,
} as const;

export const rosterMemberSchema = z.strictObject({
  kid: keyIdSchema,
  name: nameSchema,
  role: z.enum(rosterRoles),
});
export type RosterMember = z.infer<typeof rosterMemberSchema>;

export const rosterBodySchema = z.strictObject({
  v: z.literal(1),
  state: stateCodeSchema,
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Hash of the previous version's body (rosterHash), null for version 1. */
  prev: hashSchema.nullable(),
  issuedAt: timestampSchema,
  /** The state authority that signs this roster. */
  authority: keyIdSchema,
  members: z.array(rosterMemberSchema).max(trustLimits.maxMembers),
});
export type RosterBody = z.infer<typeof rosterBodySchema>;

export const signedRosterSchema = z.strictObject({ roster: rosterBodySchema, sig: signatureSchema });
export type SignedRoster = z.infer<typeof signedRosterSchema>;

const durationMsSchema = z.number().int().min(100).max(30 * 24 * 3600 * 1000);

export const charterBodySchema = z.strictObject({
  v: z.literal(1),
  channel: channelIdSchema,
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Hash of the previous version's body (charterHash), null for version 1. */
  prev: hashSchema.nullable(),
  issuedAt: timestampSchema,
  /** The authority key of each party, by state code: exactly the two states of `channel`. */
  authorities: z.record(stateCodeSchema, keyIdSchema),
  /** Acknowledgement deadline per level, in milliseconds. */
  deadlines: z.strictObject({ ROUTINE: durationMsSchema, PRIORITY: durationMsSchema, IMMEDIATE: durationMsSchema, FLASH: durationMsSchema }),
  escalation: escalationPolicySchema,
  /** Drill directors both states accept on this channel (drill-marked envelopes only). */
  directors: z.array(keyIdSchema).max(trustLimits.maxDirectors),
  /** Reviewers both states allow to read this channel's timing records. */
  reviewers: z.array(keyIdSchema).max(trustLimits.maxReviewers),
  /** Hash of the template catalogue both states agreed on, or null. */
  templates: hashSchema.nullable(),
  /** How far a relay's stated time may be from a client's own clock before the client alarms. */
  timeTolerance: z.number().int().min(0).max(trustLimits.maxTimeToleranceMs),
  /**
   * 'required': every envelope of the channel wraps its content key with X25519 and ML-KEM-768 (docs/PROTOCOL.md);
   * clients refuse to send to a prekey, or accept an envelope, without it. Absent: hybrid when the prekey allows.
   */
  hybridWrap: z.literal('required').optional(),
});
export type CharterBody = z.infer<typeof charterBodySchema>;

export const signedCharterSchema = z.strictObject({
  charter: charterBodySchema,
  /** One signature per party, by state code. */
  sigs: z.record(stateCodeSchema, signatureSchema),
});
export type SignedCharter = z.infer<typeof signedCharterSchema>;
