// The trust ceremony for bench relays: fixed state-authority keys sign each bench channel's charter and both parties'
// rosters once per run, and every fresh relay gets the very same documents, so envelopes pre-built against them (their
// headers name the charter and roster versions and hashes) are valid on every step's relay.
import { createHash } from 'node:crypto';
import {
  charterHash,
  createIdentity,
  deadlineTable,
  defaultEscalationPolicy,
  DEFAULT_TIME_TOLERANCE_MS,
  fingerprint,
  nextRosterBody,
  rosterHash,
  signCharter,
  signRoster,
  trustLimits,
  type CharterBody,
  type Identity,
  type RosterMember,
  type SignedCharter,
  type SignedRoster,
  type TrustRefs,
} from '../shared/index.ts';
import { postJson } from './hotline-relay.ts';
import type { ChannelSpec } from './population.ts';

/** Each state's authority in the bench: the same key every run (a seed derived from the state code). */
export function benchAuthority(state: string): Identity {
  return createIdentity(new Uint8Array(createHash('sha256').update(`hotline bench authority ${state}`).digest()));
}

/** The fingerprint a PoC of `state` pins at join (`profile.authority.fingerprint`): 30 digits, no spaces. */
export function authorityFingerprint(state: string): string {
  return fingerprint(benchAuthority(state).kid).replace(/\s/g, '');
}

/** Someone who goes on a state's roster as a PoC. */
export interface RosterEntrant {
  readonly state: string;
  readonly name: string;
  readonly identity: { readonly kid: string };
}

/** A channel's charter (version 1) and both parties' rosters (version 1), and the references a sender's header names. */
export interface ChannelTrust {
  readonly channel: string;
  readonly spec: ChannelSpec;
  readonly charter: SignedCharter;
  readonly rosters: readonly SignedRoster[];
  readonly refs: TrustRefs;
}

/**
 * Signs `spec`'s charter (its deadlines, the default escalation policy) with both bench authorities, and each party's
 * roster with `entrants` of that state as PoCs. Throws when a state would list more than the roster limit (put only
 * the senders and recipients on rosters: PoCs that only connect need no standing) or two names look alike.
 */
export function channelTrust(spec: ChannelSpec, entrants: readonly RosterEntrant[], issuedAt = Date.now()): ChannelTrust {
  const channel = `${spec.a}-${spec.b}`;
  const [a, b] = [spec.a, spec.b];
  for (const e of entrants) {
    if (e.state !== a && e.state !== b) throw new Error(`${e.name} (${e.state}) is not a party to ${channel}`);
  }
  const body: CharterBody = {
    v: 1,
    channel,
    version: 1,
    prev: null,
    issuedAt,
    authorities: { [a]: benchAuthority(a).kid, [b]: benchAuthority(b).kid },
    deadlines: { ...deadlineTable(spec.deadlines) },
    escalation: [...defaultEscalationPolicy],
    directors: [],
    reviewers: [],
    templates: null,
    timeTolerance: DEFAULT_TIME_TOLERANCE_MS,
  };
  const charter = signCharter(signCharter({ charter: body }, a, benchAuthority(a)), b, benchAuthority(b));
  const rosters = [a, b].map((state) => {
    const members: RosterMember[] = entrants.filter((e) => e.state === state).map((e) => ({ kid: e.identity.kid, name: e.name, role: 'poc' }));
    if (members.length > trustLimits.maxMembers) {
      throw new Error(`${state}: ${members.length} PoCs for one roster (at most ${trustLimits.maxMembers}): spread them over more states`);
    }
    const authority = benchAuthority(state);
    return signRoster(authority, nextRosterBody(null, { state, authority: authority.kid }, members, issuedAt));
  });
  const refs: TrustRefs = {
    charter: { version: 1, hash: charterHash(charter.charter) },
    rosters: Object.fromEntries(rosters.map((r) => [r.roster.state, { version: r.roster.version, hash: rosterHash(r.roster) }])),
  };
  return { channel, spec, charter, rosters, refs };
}

export interface TrustTarget {
  readonly httpUrl: string;
  readonly adminToken: string;
}

/**
 * Installs the charter (version 1 opens the channel: the operator's admin token) and then both rosters (the relay
 * checks them against the authorities the charter names), as `hotline charter sign --publish` and `roster add` do.
 */
export async function installTrust(relay: TrustTarget, trusts: readonly ChannelTrust[]): Promise<void> {
  for (const t of trusts) {
    await postJson(`${relay.httpUrl}/v1/trust/charters`, t.charter, relay.adminToken);
    for (const roster of t.rosters) await postJson(`${relay.httpUrl}/v1/trust/rosters`, roster, null);
  }
}
