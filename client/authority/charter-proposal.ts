// The proposing authority's side of the charter ceremony: version 1 of a channel's charter, or the next version of
// the one in force, with the proposer's signature only.
import {
  charterBodySchema,
  charterHash,
  DEFAULT_TIME_TOLERANCE_MS,
  deadlineTable,
  defaultEscalationPolicy,
  HotlineError,
  keyIdSchema,
  signCharter,
  type CharterBody,
  type Level,
  type SignedCharter,
} from '../../shared/index.ts';
import type { Authority } from './authority-keystore.ts';

/** The terms a proposal sets; null (or an absent level) keeps what the previous version said, or the default for v1. */
export interface CharterTermsChange {
  readonly deadlines: Partial<Record<Level, number>>;
  readonly directors: readonly string[] | null;
  readonly reviewers: readonly string[] | null;
  readonly timeTolerance: number | null;
  /** 'required' or 'optional' sets the hybrid-wrapping rule; absent keeps the previous version's (optional for v1). */
  readonly hybridWrap?: 'required' | 'optional';
  /** catalogueHash of the template catalogue to bind; null unbinds; undefined keeps the previous version's. */
  readonly templates?: string | null;
}

/** The two states of a channel id typed by a person (`CN-US`, `cn-us`); BAD_INPUT unless it joins two states. */
export function parseChannel(input: string): { channel: string; parties: [string, string] } {
  const channel = input.trim().toUpperCase();
  const m = /^([A-Z][A-Z0-9]{1,7})-([A-Z][A-Z0-9]{1,7})$/.exec(channel);
  if (!m) throw new HotlineError('BAD_INPUT', `"${input}" is not a channel: use A-B with two state codes, e.g. CN-US`);
  const [, a, b] = m as unknown as [string, string, string];
  if (a === b) throw new HotlineError('BAD_INPUT', 'a channel joins two different states');
  return { channel, parties: [a, b] };
}

/**
 * Builds and signs (as `authority`) version 1 of `channel`'s charter, or the version after `previous` (the newest
 * one both authorities signed): same authorities, the given terms replacing the old ones. `peer` is the other
 * state's authority kid, required for version 1 and, when given later, required to be the one on record.
 * @example proposeCharter(cn, 'CN-US', usKid, null, { deadlines: { FLASH: 120_000 }, directors: null, reviewers: null, timeTolerance: null }, Date.now())
 */
export function proposeCharter(authority: Authority, channelInput: string, peer: string | null, previous: CharterBody | null, change: CharterTermsChange, now: number): SignedCharter {
  const { channel, parties } = parseChannel(channelInput);
  const own = authority.state;
  if (!parties.includes(own)) throw new HotlineError('BAD_INPUT', `this authority is ${own}'s, and ${channel} is not a channel of ${own}`);
  const other = parties[0] === own ? parties[1] : parties[0];
  if (peer !== null && !keyIdSchema.safeParse(peer).success) {
    throw new HotlineError('BAD_INPUT', `--peer "${peer}" is not a key id: ask ${other}'s authority for its key id (hotline authority whoami)`);
  }
  for (const kid of [...(change.directors ?? []), ...(change.reviewers ?? [])]) {
    if (!keyIdSchema.safeParse(kid).success) throw new HotlineError('BAD_INPUT', `"${kid}" is not a key id (43 base64url characters)`);
  }

  let authorities: Record<string, string>;
  if (previous === null) {
    if (peer === null) throw new HotlineError('BAD_INPUT', `version 1 of ${channel} needs --peer KID: the key id of ${other}'s authority`);
    if (peer === authority.identity.kid) throw new HotlineError('BAD_INPUT', `--peer is this authority's own key; give ${other}'s authority key id`);
    authorities = { [own]: authority.identity.kid, [other]: peer };
  } else {
    if (previous.channel !== channel) throw new HotlineError('BAD_INPUT', `the previous charter is of ${previous.channel}, not ${channel}`);
    if (previous.authorities[own] !== authority.identity.kid) {
      throw new HotlineError('TRUST_INVALID', `the charter of ${channel} on record names another key as ${own}'s authority than this one`);
    }
    if (peer !== null && previous.authorities[other] !== peer) {
      throw new HotlineError('TRUST_FORK', `${channel} v${previous.version} names another key as ${other}'s authority; a charter keeps its authorities (a new authority needs a new channel)`);
    }
    authorities = { ...previous.authorities };
  }

  const body: CharterBody = {
    v: 1,
    channel,
    version: (previous?.version ?? 0) + 1,
    prev: previous ? charterHash(previous) : null,
    issuedAt: Math.max(now, previous?.issuedAt ?? 0),
    authorities,
    deadlines: { ...(previous?.deadlines ?? deadlineTable()), ...change.deadlines },
    escalation: previous ? [...previous.escalation] : [...defaultEscalationPolicy],
    directors: [...(change.directors ?? previous?.directors ?? [])],
    reviewers: [...(change.reviewers ?? previous?.reviewers ?? [])],
    templates: change.templates !== undefined ? change.templates : (previous?.templates ?? null),
    timeTolerance: change.timeTolerance ?? previous?.timeTolerance ?? DEFAULT_TIME_TOLERANCE_MS,
    ...((change.hybridWrap ?? (previous?.hybridWrap === 'required' ? 'required' : 'optional')) === 'required' ? { hybridWrap: 'required' as const } : {}),
  };
  const checked = charterBodySchema.safeParse(body);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new HotlineError('BAD_INPUT', `the proposed terms are out of bounds: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  if (new Set(body.directors).size !== body.directors.length) throw new HotlineError('BAD_INPUT', 'a --director is given twice');
  if (new Set(body.reviewers).size !== body.reviewers.length) throw new HotlineError('BAD_INPUT', 'a --reviewer is given twice');
  return signCharter({ charter: checked.data }, own, authority.identity);
}
