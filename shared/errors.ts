// The one table of error codes used on the wire, in the relay and in the CLI, and the error class that carries them.

/**
 * Every error code Hotline can produce. `status` is the HTTP status used when the error crosses
 * HTTP; `close` is set when the relay closes the WebSocket because of it; `hint` is what a
 * person should do next.
 */
export const errorCodes = {
  BAD_FRAME: { status: 400, close: null, message: 'frame is not valid JSON', hint: 'send one JSON object per frame' },
  BAD_SCHEMA: { status: 400, close: null, message: 'message does not match the protocol schema', hint: 'check the client version' },
  FRAME_TOO_LARGE: { status: 413, close: null, message: 'frame exceeds the relay size limit', hint: 'shorten the message' },
  HOME_BUSY: { status: 409, close: null, message: 'another hotline process on this HOTLINE_HOME is sending', hint: 'wait a moment and try again' },
  RATE_LIMITED: { status: 429, close: null, message: 'too many messages on this connection', hint: 'slow down and retry' },
  AUTH_REQUIRED: { status: 401, close: 4401, message: 'authenticate before sending anything else', hint: 'answer the challenge first' },
  AUTH_FAILED: { status: 401, close: 4401, message: 'challenge signature does not verify', hint: 'check the identity keyfile' },
  AUTH_TIMEOUT: { status: 408, close: 4408, message: 'authentication took too long', hint: 'reconnect' },
  UNKNOWN_KEY: { status: 403, close: 4403, message: 'this key is not enrolled on the relay', hint: 'join with an invite first' },
  REVOKED_KEY: { status: 403, close: 4403, message: 'this key has been revoked', hint: 'ask the relay operator for a new invite' },
  WRONG_ROLE: { status: 403, close: null, message: 'this role may not do that', hint: 'use an identity with the right role' },
  BAD_SIGNATURE: { status: 400, close: null, message: 'signature does not verify', hint: 'the message was altered or forged' },
  BAD_ENVELOPE: { status: 400, close: null, message: 'envelope breaks a protocol rule', hint: 'check the client version' },
  REPLAY_ID: { status: 409, close: null, message: 'an envelope with this id was already accepted', hint: 'nothing to do: it is on record' },
  SEQ_NOT_INCREASING: { status: 409, close: null, message: 'sequence number does not increase', hint: 'the client state is stale or this is a replay' },
  NOT_CHANNEL_MEMBER: { status: 403, close: null, message: 'sender or recipient is not a member of this channel', hint: 'ask the operator to open the channel' },
  WRONG_STATE: { status: 403, close: null, message: 'sender claims a state it does not belong to', hint: 'the envelope is forged' },
  UNKNOWN_CHANNEL: { status: 404, close: null, message: 'no such channel', hint: 'ask the operator to open the channel' },
  UNKNOWN_STATE: { status: 404, close: null, message: 'no such state on this relay', hint: 'check the state code (e.g. US, CN)' },
  UNKNOWN_LEVEL: { status: 400, close: null, message: 'unknown level', hint: 'use ROUTINE, PRIORITY, IMMEDIATE or FLASH' },
  UNKNOWN_ID: { status: 404, close: null, message: 'no such notice', hint: 'check the id with `hotline inbox`' },
  PENDING_CAP: { status: 429, close: null, message: 'a recipient has too many undelivered envelopes', hint: 'the recipient is offline; reach them another way' },
  SENDER_QUOTA: { status: 429, close: null, message: 'this key has used its share of a recipient\'s queue of undelivered envelopes', hint: 'the recipient has not collected what this key already sent: wait until it comes online, or reach it another way; FLASH and IMMEDIATE have a queue of their own' },
  PREKEY_EXPIRED: { status: 400, close: null, message: 'prekey is outside its validity window', hint: 'the owner must publish a fresh prekey' },
  PREKEY_BAD_SIGNATURE: { status: 400, close: null, message: 'prekey is not signed by its identity key', hint: 'the key directory was tampered with' },
  HYBRID_REQUIRED: { status: 409, close: null, message: 'post-quantum hybrid wrapping is required here and a prekey or envelope lacks it', hint: 'the recipient updates its client so it publishes a hybrid prekey; an envelope stripped of its ML-KEM part was altered by its sender: report it' },
  NOT_A_RECIPIENT: { status: 403, close: null, message: 'this key is not a recipient of the envelope', hint: 'nothing to open' },
  DECRYPT_FAILED: { status: 400, close: null, message: 'envelope does not decrypt', hint: 'the envelope was altered in transit' },
  INVITE_INVALID: { status: 403, close: null, message: 'invite code is not valid', hint: 'ask the operator for a new invite' },
  INVITE_USED: { status: 403, close: null, message: 'invite code was already used', hint: 'ask the operator for a new invite' },
  INVITE_EXPIRED: { status: 403, close: null, message: 'invite code has expired', hint: 'ask the operator for a new invite' },
  UNAUTHORIZED: { status: 401, close: null, message: 'missing or wrong token', hint: 'use the right token: set HOTLINE_ADMIN_TOKEN(_FILE) or pass --token-file FILE' },
  FORBIDDEN: { status: 403, close: null, message: 'not allowed', hint: 'use an identity with the right role' },
  NOT_FOUND: { status: 404, close: null, message: 'not found', hint: 'check the name or id' },
  CONFLICT: { status: 409, close: null, message: 'already exists', hint: 'nothing to do' },
  SHUTTING_DOWN: { status: 503, close: 1001, message: 'relay is shutting down', hint: 'reconnect in a moment' },
  RELAY_UNREACHABLE: { status: 503, close: null, message: 'cannot reach the relay', hint: 'check HOTLINE_RELAY and that the relay is running' },
  TLS_UNTRUSTED: { status: 502, close: null, message: 'the relay presented a TLS certificate this client does not trust', hint: 'if the relay uses a private CA, pass --ca FILE (or set HOTLINE_CA) with that CA certificate' },
  DATA_DIR_LOCKED: { status: 409, close: null, message: 'the relay data directory is in use by another relay', hint: 'stop the other relay, or give this one its own --data DIR' },
  WRONG_PASSPHRASE: { status: 401, close: null, message: 'wrong passphrase for the keyfile', hint: 'check HOTLINE_PASSPHRASE' },
  WEAK_PASSPHRASE: { status: 400, close: null, message: 'the passphrase is too weak for a new keyfile', hint: 'use 4 or more unrelated words, at least 12 characters' },
  NO_IDENTITY: { status: 404, close: null, message: 'no identity in HOTLINE_HOME', hint: 'run `hotline init --name NAME` first' },
  KEY_CHANGED: { status: 409, close: null, message: 'a pinned contact key has changed', hint: 'verify the new fingerprint out of band, then `hotline trust KEYID FP`' },
  NO_CHARTER: { status: 409, close: null, message: 'this channel has no charter signed by both state authorities', hint: 'the two authorities sign one with `hotline charter propose` and `hotline charter sign`' },
  TRUST_INVALID: { status: 400, close: null, message: 'a roster or charter does not verify', hint: 'the document was altered or signed by the wrong key: do not use it' },
  TRUST_FORK: { status: 409, close: null, message: 'a roster or charter does not extend the last verified version', hint: 'two different histories exist: call your authority before trusting either' },
  TRUST_STALE: { status: 409, close: null, message: 'the envelope names a roster or charter version that is not the current one', hint: 'fetch the current rosters and charter, then send again' },
  SPLIT_VIEW: { status: 409, close: null, message: 'two parties were shown different rosters or charters under one version', hint: 'a relay is lying to someone: call your authority and the other side out of band' },
  NOT_IN_ROSTER: { status: 403, close: null, message: 'the key is not in its state\'s signed roster', hint: 'ask your state authority to add it with `hotline roster add`' },
  LOOKALIKE_NAME: { status: 409, close: null, message: 'the name looks like another member\'s name', hint: 'choose a name a person cannot confuse with the other' },
  MEMBER_UNREACHABLE: { status: 409, close: null, message: 'a roster member has no usable key on the relay', hint: 'the member must join the relay (and be online once) before notices can reach them' },
  DEADLINE_MISMATCH: { status: 409, close: null, message: 'the relay stated an acknowledgement deadline the charter does not give', hint: 'the relay may be altering deadlines: report it to both authorities' },
  DRILL_MIXING: { status: 403, close: null, message: 'a drill envelope and a real one may not refer to each other', hint: 'drills only answer drills; real notices only answer real ones' },
  CHAIN_BROKEN: { status: 409, close: null, message: 'the envelope does not continue its sender\'s chain on this channel', hint: 'the client resends what the relay lacks, or its state is stale' },
  WITNESS_MISMATCH: { status: 409, close: null, message: 'the witnessed audit head is not the relay\'s chain at that point', hint: 'the relay\'s history differs from what you saw: keep your witness file and report it' },
  MISSING: { status: 409, close: null, message: 'an envelope of the sender\'s chain never arrived', hint: 'ask the sender out of band what it sent' },
  BAD_RECEIPT: { status: 409, close: null, message: 'a relay receipt contradicts what this client saw', hint: 'the relay may be re-timing or altering records: keep the evidence and report it' },
  CHAIN_FORK: { status: 409, close: null, message: 'two different envelopes claim one place in a sender\'s chain', hint: 'someone else holds the sender\'s key or a relay forged a record: call the sender and your authority' },
  REORDERED: { status: 409, close: null, message: 'a relay delivered a sender\'s envelopes out of order', hint: 'a warning: nothing is lost, but the relay held an envelope back; keep an eye on it' },
  NO_AUTHORITY: { status: 404, close: null, message: 'no state authority keys in HOTLINE_HOME', hint: 'run `hotline authority init --state CODE` first' },
  BAD_INPUT: { status: 400, close: null, message: 'invalid input', hint: 'see --help' },
  TIMEOUT: { status: 504, close: null, message: 'timed out', hint: 'retry' },
  INTERNAL: { status: 500, close: 1011, message: 'internal error', hint: 'see the relay log' },
  TEMPLATE_REFUSED: { status: 400, close: null, message: 'the notice names a template its channel\'s catalogue does not hold', hint: 'both states must bind the same catalogue in the charter: compare `hotline templates list` with the charter' },
  BAD_TEMPLATE_FIELD: { status: 400, close: null, message: 'a template field is missing or ill-formed', hint: 'see `hotline templates show ID` for the fields and their types' },
  BAD_CATALOGUE: { status: 400, close: null, message: 'the template catalogue does not match its schema', hint: 'fix the line and field named' },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export const errorCodeList = Object.keys(errorCodes) as ErrorCode[];

/** True when `code` is one of ours (for values that came from outside). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(errorCodes, code);
}

/** The one error type Hotline throws: a code from the table, a message for people, an optional cause. */
export class HotlineError extends Error {
  override readonly name = 'HotlineError';
  readonly code: ErrorCode;
  readonly detail: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message ?? errorCodes[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = Object.freeze({ ...(options?.detail ?? {}) });
  }

  get hint(): string {
    return errorCodes[this.code].hint;
  }
}

/** Turns any caught value into a HotlineError (INTERNAL unless it already is one). */
export function toHotlineError(cause: unknown): HotlineError {
  if (cause instanceof HotlineError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new HotlineError('INTERNAL', message, { cause });
}
