// Zod schemas for everything that crosses a boundary: envelopes, receipts, audit records, and every wire message.
import { z } from 'zod';
import { templateRefSchema, tlpSchema } from './templates/notice.ts';
import { errorCodeList, type ErrorCode } from './errors.ts';
import { escalationActions, escalationPercentRange, escalationPolicyProblem } from './escalation.ts';
import { levels } from './levels.ts';

const b64u = (bytes: number) => {
  const length = Math.ceil((bytes * 4) / 3);
  return z.string().length(length).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
};

/** Hard ceilings on sizes, shared by the relay (frame limit) and clients (before sending). */
export const limits = {
  // Body (200 KiB of base64url) + 64 hybrid recipients (~1.6 KiB each, ML-KEM ciphertext included) + header.
  maxFrameBytes: 384 * 1024,
  maxBodyChars: 200 * 1024,
  maxRecipients: 64,
  maxRefs: 16,
  maxTextChars: 64 * 1024,
} as const;

export const keyIdSchema = b64u(32).describe('base64url Ed25519 public key');
export const signatureSchema = b64u(64);
export const hashSchema = b64u(32);
export const x25519Schema = b64u(32);
/** FIPS 203 ML-KEM-768 encapsulation key and ciphertext. */
export const kemPublicKeySchema = b64u(1184);
export const kemCiphertextSchema = b64u(1088);
export const stateCodeSchema = z.string().regex(/^[A-Z][A-Z0-9]{1,7}$/, 'state code: 2-8 capitals/digits, e.g. US');
export const channelIdSchema = z.string().regex(/^[A-Z][A-Z0-9]{1,7}-[A-Z][A-Z0-9]{1,7}$/, 'channel id: A-B, e.g. CN-US');
export const uuidSchema = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'must be a lowercase UUIDv7');
export const timestampSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const levelSchema = z.enum(levels);
export const kinds = ['notice', 'reply', 'ack', 'receipt', 'check', 'raise'] as const;
export const kindSchema = z.enum(kinds);
export type Kind = (typeof kinds)[number];
export const roles = ['poc', 'alternate', 'reviewer', 'director'] as const;
export const roleSchema = z.enum(roles);
export type Role = (typeof roles)[number];
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `text` is well-formed UTF-16 (String.prototype.isWellFormed): a lone surrogate has no UTF-8 form, so
 * canonical JSON cannot encode it and it could never be signed, hashed or put in the audit chain.
 */
export function isWellFormedText(text: string): boolean {
  return !loneSurrogate.test(text);
}

/**
 * A string from outside that will be canonicalised (signed, hashed, audited): at most `max` UTF-16 units, well-formed.
 * @example revokeReason: wellFormedString(200).nullable()
 */
export function wellFormedString(max: number): z.ZodString {
  return z.string().max(max).refine(isWellFormedText, 'not well-formed Unicode (lone surrogate)');
}

export const nameSchema = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters')
  .refine(isWellFormedText, 'not well-formed Unicode (lone surrogate)');
const drillIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'drill id: letters, digits, - and _');

export const drillMarkSchema = z.strictObject({
  drillId: drillIdSchema,
  inject: z.number().int().min(0).max(10_000).nullable(),
  /** The drill's own acknowledgement deadline for this envelope (ms after acceptance), signed with the header; absent: the charter's. */
  ackWithinMs: z.number().int().min(100).max(30 * 24 * 3600 * 1000).optional(),
});
export type DrillMark = z.infer<typeof drillMarkSchema>;

/** A trust document (charter or roster) named by version and body hash. */
export const docRefSchema = z.strictObject({ version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), hash: hashSchema });
export type DocRef = z.infer<typeof docRefSchema>;
/** What a v2 envelope header says it was built against: the channel's charter and both parties' rosters. */
export const trustRefsSchema = z.strictObject({
  charter: docRefSchema,
  rosters: z.record(stateCodeSchema, docRefSchema),
});
export type TrustRefs = z.infer<typeof trustRefsSchema>;

export const headerSchema = z.strictObject({
  /**
   * 1: the first wave (no trust references; still opens and verifies); 2: names the charter and rosters used;
   * 3: v2 and the sender's per-channel chain (chanSeq, prev).
   */
  v: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  id: uuidSchema,
  channel: channelIdSchema,
  kind: kindSchema,
  from: keyIdSchema,
  fromState: stateCodeSchema,
  toState: stateCodeSchema,
  level: levelSchema.nullable(),
  drill: drillMarkSchema.nullable(),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  createdAt: timestampSchema,
  refs: z.array(uuidSchema).max(limits.maxRefs),
  /** Present exactly when v is 2 or 3. */
  trust: trustRefsSchema.optional(),
  /** v3: this sender's envelopes on this channel, counted from 1 without gaps. */
  chanSeq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  /** v3: envelope hash of the sender's previous envelope on this channel (GENESIS_HASH before the first). */
  prev: hashSchema.optional(),
});
export type EnvelopeHeader = z.infer<typeof headerSchema>;

export const recipientSchema = z.strictObject({
  kid: keyIdSchema,
  prekeyId: hashSchema,
  ephemeralPub: x25519Schema,
  /** Hybrid wrap (docs/PROTOCOL.md): ML-KEM-768 ciphertext to the prekey's ML-KEM key; absent: X25519 alone. */
  kemCiphertext: kemCiphertextSchema.optional(),
  /** nonce(24) || XChaCha20-Poly1305(content key(32)) with tag(16). */
  wrappedKey: b64u(72),
});
export type Recipient = z.infer<typeof recipientSchema>;

export const envelopeSchema = z.strictObject({
  header: headerSchema,
  recipients: z.array(recipientSchema).max(limits.maxRecipients),
  body: z.string().max(limits.maxBodyChars).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url'),
  sig: signatureSchema,
});
export type Envelope = z.infer<typeof envelopeSchema>;

/** What is inside an envelope's encrypted body. */
export const contentSchema = z.strictObject({
  subject: wellFormedString(200).nullable(),
  text: wellFormedString(limits.maxTextChars),
  /** TLP 2.0 label (absent on notices of clients before templates: read as TLP:AMBER). */
  tlp: tlpSchema.optional(),
  /** A template notice: catalogue hash, template id and number, field values. Only ever inside the encrypted body. */
  template: templateRefSchema.optional(),
});
export type Content = z.infer<typeof contentSchema>;

export const signedPrekeySchema = z.strictObject({
  owner: keyIdSchema,
  prekeyId: hashSchema,
  publicKey: x25519Schema,
  /** ML-KEM-768 encapsulation key, signed by the owner's identity key together with the X25519 key; absent on prekeys made before hybrid wrapping. */
  kemPublicKey: kemPublicKeySchema.optional(),
  notBefore: timestampSchema,
  notAfter: timestampSchema,
  sig: signatureSchema,
});
export type SignedPrekey = z.infer<typeof signedPrekeySchema>;

/** The relay's signed statement that it durably accepted an envelope. */
export const relayReceiptSchema = z.strictObject({
  id: uuidSchema,
  hash: hashSchema,
  acceptedAt: timestampSchema,
  auditSeq: z.number().int().min(1),
  ackDeadline: timestampSchema.nullable(),
  /** Hash of the audit event recording this envelope: the chain head right after it (absent on first-wave receipts). */
  auditHash: hashSchema.optional(),
  relay: keyIdSchema,
  sig: signatureSchema,
});
export type RelayReceipt = z.infer<typeof relayReceiptSchema>;

export const auditEventSchema = z.strictObject({
  seq: z.number().int().min(1),
  at: timestampSchema,
  type: z.string().regex(/^[a-z][a-z.-]{0,40}$/),
  data: z.record(z.string(), z.unknown()),
  prev: hashSchema,
  hash: hashSchema,
});
export type AuditEvent = z.infer<typeof auditEventSchema>;

export const auditCheckpointSchema = z.strictObject({
  seq: z.number().int().min(1),
  head: hashSchema,
  at: timestampSchema,
  relay: keyIdSchema,
  sig: signatureSchema,
});
export type AuditCheckpoint = z.infer<typeof auditCheckpointSchema>;

export const ridSchema = z.string().min(1).max(64);

// ---- client → relay ----

export const authMessageSchema = z.strictObject({ type: z.literal('auth'), kid: keyIdSchema, sig: signatureSchema });
export const sendMessageSchema = z.strictObject({ type: z.literal('send'), rid: ridSchema, envelope: envelopeSchema });
export const confirmMessageSchema = z.strictObject({
  type: z.literal('confirm'),
  ids: z.array(uuidSchema).min(1).max(512),
});
export const publishPrekeyMessageSchema = z.strictObject({
  type: z.literal('prekey.publish'),
  rid: ridSchema,
  prekey: signedPrekeySchema,
});
export const getKeysMessageSchema = z.strictObject({
  type: z.literal('keys.get'),
  rid: ridSchema,
  /** States whose keys to fetch; empty means every state this identity shares a channel with, and its own. */
  states: z.array(stateCodeSchema).max(32),
});
export const pingMessageSchema = z.strictObject({ type: z.literal('ping'), rid: ridSchema });
/** Every version of the charters of this identity's channels and of their states' rosters. */
export const trustGetMessageSchema = z.strictObject({ type: z.literal('trust.get'), rid: ridSchema });

/** A drill director registers a drill before sending its injects; its deadline overrides apply to the drill's envelopes. */
export const drillStartMessageSchema = z.strictObject({
  type: z.literal('drill.start'),
  rid: ridSchema,
  drillId: drillIdSchema,
  name: wellFormedString(120).min(1),
  channel: channelIdSchema,
  timeScale: z.number().positive().max(3600),
  deadlines: z.partialRecord(levelSchema, z.number().int().min(100).max(30 * 24 * 3600 * 1000)),
});
export const drillEndMessageSchema = z.strictObject({ type: z.literal('drill.end'), rid: ridSchema, drillId: drillIdSchema });
export const drillStatusRequestSchema = z.strictObject({ type: z.literal('drill.status'), rid: ridSchema, drillId: drillIdSchema });
/** A device's automatic "received" for a communication check: sig over {checkId, kid, relay} with ctx hotline-check-receipt-v1. */
export const checkReceiptMessageSchema = z.strictObject({ type: z.literal('check.receipt'), checkId: z.string().regex(/^chk-[0-9a-f-]{36}$/), sig: signatureSchema });
/** A person's "I am here" for a check: sig over {checkId, kid, relay} with ctx hotline-check-ack-v1. */
export const checkAckMessageSchema = z.strictObject({ type: z.literal('check.ack'), rid: ridSchema, checkId: z.string().regex(/^chk-[0-9a-f-]{36}$/), sig: signatureSchema });

/** A PoC's signed statement that it saw the relay's audit chain at `seq` with head hash `head` (shared/evidence/witness.ts). */
export const witnessStatementSchema = z.strictObject({
  relay: keyIdSchema,
  kid: keyIdSchema,
  state: stateCodeSchema,
  seq: z.number().int().min(1),
  head: hashSchema,
  /** The witness's own clock when it signed. */
  at: timestampSchema,
  sig: signatureSchema,
});
export type WitnessStatement = z.infer<typeof witnessStatementSchema>;
/** Appends the statement to the relay's audit chain (answered `ok`, or WITNESS_MISMATCH when the chain there differs). */
export const witnessMessageSchema = z.strictObject({ type: z.literal('witness'), rid: ridSchema, statement: witnessStatementSchema });
/** Asks for a sender's envelopes on a channel by chanSeq (a recipient that saw a gap). */
export const chainGetMessageSchema = z.strictObject({
  type: z.literal('chain.get'),
  rid: ridSchema,
  channel: channelIdSchema,
  from: keyIdSchema,
  /** First and last chanSeq wanted (at most 256). */
  first: z.number().int().min(1),
  last: z.number().int().min(1),
});

export const clientMessageSchema = z.discriminatedUnion('type', [
  witnessMessageSchema,
  chainGetMessageSchema,
  authMessageSchema,
  sendMessageSchema,
  confirmMessageSchema,
  publishPrekeyMessageSchema,
  getKeysMessageSchema,
  pingMessageSchema,
  trustGetMessageSchema,
  drillStartMessageSchema,
  drillEndMessageSchema,
  drillStatusRequestSchema,
  checkReceiptMessageSchema,
  checkAckMessageSchema,
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

// ---- relay → client ----

export const directoryEntrySchema = z.strictObject({
  kid: keyIdSchema,
  state: stateCodeSchema,
  role: roleSchema,
  name: nameSchema,
  revoked: z.boolean(),
  prekey: signedPrekeySchema.nullable(),
});
export type DirectoryEntry = z.infer<typeof directoryEntrySchema>;

export const channelInfoSchema = z.strictObject({
  id: channelIdSchema,
  states: z.tuple([stateCodeSchema, stateCodeSchema]),
  deadlines: z.record(levelSchema, z.number().int().positive()),
});
export type ChannelInfo = z.infer<typeof channelInfoSchema>;

export const challengeMessageSchema = z.strictObject({
  type: z.literal('challenge'),
  nonce: b64u(32),
  relay: keyIdSchema,
  serverTime: timestampSchema,
  protocol: z.literal(1),
});
export const welcomeMessageSchema = z.strictObject({
  type: z.literal('welcome'),
  kid: keyIdSchema,
  state: stateCodeSchema,
  role: roleSchema,
  name: nameSchema,
  serverTime: timestampSchema,
  channels: z.array(channelInfoSchema),
  pending: z.number().int().min(0),
});
export const acceptedMessageSchema = z.strictObject({
  type: z.literal('accepted'),
  rid: ridSchema,
  receipt: relayReceiptSchema,
  /** True when this id had already been accepted (idempotent resend): the receipt is the original one. */
  duplicate: z.boolean(),
});
export const deliverMessageSchema = z.strictObject({
  type: z.literal('deliver'),
  envelope: envelopeSchema,
  receipt: relayReceiptSchema,
});
export const keysMessageSchema = z.strictObject({
  type: z.literal('keys'),
  rid: ridSchema,
  entries: z.array(directoryEntrySchema),
});
export const okMessageSchema = z.strictObject({ type: z.literal('ok'), rid: ridSchema });
/** Trust documents as the relay stores them, oldest version first; the client verifies each (shared/trust). */
export const trustMessageSchema = z.strictObject({
  type: z.literal('trust'),
  rid: ridSchema,
  charters: z.array(z.record(z.string(), z.unknown())).max(1024),
  rosters: z.array(z.record(z.string(), z.unknown())).max(4096),
});
/**
 * An envelope as a verifier without its body holds it: everything the sender's signature covers, the body replaced by
 * its hash, and the relay's receipt. What an export bundle lists, and what a chain answer gives for a link.
 */
export const signedPartsSchema = z.strictObject({
  header: headerSchema,
  recipients: z.array(recipientSchema).max(limits.maxRecipients),
  bodyHash: hashSchema,
  sig: signatureSchema,
  receipt: relayReceiptSchema,
});

/**
 * A sender's envelopes on a channel: `envelope` whole when the asker is a recipient, otherwise only what the signature
 * covers (header, recipients, body hash, sig), which proves the gap was not meant for it. `missing` lists the chanSeqs
 * the relay has no envelope for.
 */
export const chainItemSchema = signedPartsSchema.extend({ envelope: envelopeSchema.nullable() });
export type ChainItem = z.infer<typeof chainItemSchema>;
export const chainMessageSchema = z.strictObject({
  type: z.literal('chain'),
  rid: ridSchema,
  items: z.array(chainItemSchema).max(256),
  missing: z.array(z.number().int().min(1)).max(256),
});
export const pongMessageSchema = z.strictObject({ type: z.literal('pong'), rid: ridSchema, serverTime: timestampSchema });
export const errorCodeSchema = z.enum(errorCodeList as [ErrorCode, ...ErrorCode[]]);
export const errorMessageSchema = z.strictObject({
  type: z.literal('error'),
  rid: ridSchema.nullable(),
  code: errorCodeSchema,
  message: z.string().max(1000),
  /** Machine-readable facts of some errors (CHAIN_BROKEN: the relay's chain head for the sender). */
  detail: z.record(z.string(), z.unknown()).optional(),
});
/** Escalation and other relay-side happenings a client is told of (overdue, escalation, ...). */
export const relayEventSchema = z.strictObject({
  kind: z.string().regex(/^[a-z][a-z.-]{0,40}$/),
  auditSeq: z.number().int().min(1),
  /** Hash of the audit event at auditSeq (the chain head there): what a witness signs. */
  auditHash: hashSchema.optional(),
  at: timestampSchema,
  data: z.record(z.string(), z.unknown()),
  /** The relay's key and its signature over the other fields (shared/evidence/relay-event.ts). */
  relay: keyIdSchema.optional(),
  sig: signatureSchema.optional(),
});
export type RelayEvent = z.infer<typeof relayEventSchema>;
export const relayEventMessageSchema = z.strictObject({
  type: z.literal('event'),
  event: relayEventSchema,
});

/** What a device is told when an escalation step of a deadline fires (the `data` of an `overdue` or `escalation` event). */
export const escalationEventDataSchema = z.strictObject({
  /** The notice or raise whose deadline was missed. */
  id: uuidSchema,
  /** The thread's original notice (equal to `id` for a notice). */
  thread: uuidSchema,
  channel: channelIdSchema,
  level: levelSchema,
  action: z.enum(escalationActions),
  /** Index of the step in the channel's policy (0 is overdue). */
  step: z.number().int().min(0),
  fromState: stateCodeSchema,
  toState: stateCodeSchema,
  acceptedAt: timestampSchema,
  /** The acknowledgement deadline that was missed. */
  deadline: timestampSchema,
  /** When this step was due; the event's `at` is when it fired. */
  due: timestampSchema,
  drill: drillMarkSchema.nullable(),
});
export type EscalationEventData = z.infer<typeof escalationEventDataSchema>;

/** The `event` of a relay event message whose kind is `overdue` (first step) or `escalation` (later steps). */
export const escalationEventSchema = z.strictObject({
  kind: z.enum(['overdue', 'escalation']),
  auditSeq: z.number().int().min(1),
  auditHash: hashSchema.optional(),
  at: timestampSchema,
  data: escalationEventDataSchema,
  relay: keyIdSchema.optional(),
  sig: signatureSchema.optional(),
});
export type EscalationEvent = z.infer<typeof escalationEventSchema>;

/** The relay's view of a drill: its registration and the timing records of its envelopes (fields as in server/timing-records.ts). */
export const drillStatusMessageSchema = z.strictObject({
  type: z.literal('drill.status'),
  rid: ridSchema,
  drill: z.strictObject({
    drillId: drillIdSchema,
    name: z.string(),
    channel: channelIdSchema,
    director: keyIdSchema,
    timeScale: z.number(),
    deadlines: z.partialRecord(levelSchema, z.number()),
    startedAt: timestampSchema,
    endedAt: timestampSchema.nullable(),
  }),
  records: z.array(z.record(z.string(), z.unknown())),
  messages: z.array(z.record(z.string(), z.unknown())),
  serverTime: timestampSchema,
});

export const relayMessageSchema = z.discriminatedUnion('type', [
  drillStatusMessageSchema,
  challengeMessageSchema,
  welcomeMessageSchema,
  acceptedMessageSchema,
  deliverMessageSchema,
  keysMessageSchema,
  trustMessageSchema,
  chainMessageSchema,
  okMessageSchema,
  pongMessageSchema,
  errorMessageSchema,
  relayEventMessageSchema,
]);
export type RelayMessage = z.infer<typeof relayMessageSchema>;

/** The data of a `check` relay event: a communication check ("ping test") asking this device to answer. */
export const checkEventDataSchema = z.strictObject({
  checkId: z.string().regex(/^chk-[0-9a-f-]{36}$/),
  deadline: timestampSchema,
  withinMs: z.number().int().positive(),
  startedAt: timestampSchema,
  targetState: stateCodeSchema.nullable(),
});
export type CheckEventData = z.infer<typeof checkEventDataSchema>;

// ---- HTTP (admin and join) ----

export const checkStartRequestSchema = z.strictObject({
  state: stateCodeSchema.nullable().default(null),
  withinMs: z.number().int().min(1000).max(7 * 24 * 3600 * 1000).default(10 * 60 * 1000),
});

export const inviteRequestSchema = z.strictObject({
  state: stateCodeSchema,
  role: roleSchema.default('poc'),
  name: nameSchema.nullable().default(null),
  ttlMs: z.number().int().min(1000).max(30 * 24 * 3600 * 1000).default(24 * 3600 * 1000),
});
export const escalationStepSchema = z.strictObject({
  action: z.enum(escalationActions),
  /** Percent of the deadline's duration after acceptance: 100 is the deadline itself, 125 a quarter of it later. */
  atPercent: z.number().int().min(escalationPercentRange.min).max(escalationPercentRange.max),
});
export const escalationPolicySchema = z
  .array(escalationStepSchema)
  .min(1)
  .max(escalationActions.length)
  .superRefine((policy, ctx) => {
    const problem = escalationPolicyProblem(policy);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });
export const channelOpenRequestSchema = z.strictObject({
  a: stateCodeSchema,
  b: stateCodeSchema,
  deadlines: z.partialRecord(levelSchema, z.number().int().min(100).max(30 * 24 * 3600 * 1000)).default({}),
  /** The channel's escalation policy; absent means defaultEscalationPolicy (overdue 100, page-alternates 125, notify-sender 150). */
  escalation: escalationPolicySchema.optional(),
});
export const revokeRequestSchema = z.strictObject({ kid: keyIdSchema, reason: wellFormedString(200).nullable().default(null) });
export const joinRequestSchema = z.strictObject({
  invite: wellFormedString(128).min(8),
  kid: keyIdSchema,
  name: nameSchema,
  prekey: signedPrekeySchema.nullable(),
  /** Ed25519 signature over canonical({ctx:'hotline-join-v1', invite, kid, name}): proves the key. */
  sig: signatureSchema,
});
export const joinResponseSchema = z.strictObject({
  kid: keyIdSchema,
  state: stateCodeSchema,
  role: roleSchema,
  name: nameSchema,
  relay: keyIdSchema,
});
export type JoinResponse = z.infer<typeof joinResponseSchema>;
export const httpErrorSchema = z.strictObject({ error: z.strictObject({ code: errorCodeSchema, message: z.string() }) });
