// Who may do what on a channel, decided from the charter and rosters an envelope names: the checks the relay,
// every client and the offline verifier run alike (pure: the documents come in as arguments).
import { HotlineError } from '../errors.ts';
import type { DrillMark, EnvelopeHeader } from '../schemas.ts';
import type { Level } from '../levels.ts';
import { charterHash } from './charter.ts';
import { watchRoles, type CharterBody, type RosterBody, type RosterMember } from './documents.ts';
import { rosterHash, rosterMember } from './roster.ts';

/** The trust documents one holds: every verified version, looked up by version number. */
export interface TrustView {
  charter(channel: string, version: number): CharterBody | null;
  roster(state: string, version: number): RosterBody | null;
}

/** The charter and the two rosters a v2 header names, each found and matching its hash. */
export interface HeaderTrust {
  readonly charter: CharterBody;
  readonly rosters: Readonly<Record<string, RosterBody>>;
}

/**
 * Resolves the documents a header names. Throws NO_CHARTER for a header that names none (v1), TRUST_STALE when
 * a named version is not held (fetch and retry), SPLIT_VIEW when one is held under that version with another hash.
 */
export function resolveHeaderTrust(view: TrustView, h: EnvelopeHeader): HeaderTrust {
  if (h.trust === undefined) throw new HotlineError('NO_CHARTER', `envelope ${h.id} names no charter or rosters (a first-wave v1 envelope)`);
  const charter = view.charter(h.channel, h.trust.charter.version);
  if (!charter) throw new HotlineError('TRUST_STALE', `charter ${h.channel} v${h.trust.charter.version} is not held`, { detail: { channel: h.channel, version: h.trust.charter.version } });
  if (charterHash(charter) !== h.trust.charter.hash) {
    throw new HotlineError('SPLIT_VIEW', `the sender of ${h.id} used another charter ${h.channel} v${charter.version} than the one held here`, {
      detail: { channel: h.channel, version: charter.version, held: charterHash(charter), named: h.trust.charter.hash },
    });
  }
  const rosters: Record<string, RosterBody> = {};
  for (const [state, ref] of Object.entries(h.trust.rosters)) {
    const roster = view.roster(state, ref.version);
    if (!roster) throw new HotlineError('TRUST_STALE', `roster ${state} v${ref.version} is not held`, { detail: { state, version: ref.version } });
    if (rosterHash(roster) !== ref.hash) {
      throw new HotlineError('SPLIT_VIEW', `the sender of ${h.id} used another roster ${state} v${ref.version} than the one held here`, {
        detail: { state, version: ref.version, held: rosterHash(roster), named: ref.hash },
      });
    }
    if (roster.authority !== charter.authorities[state]) {
      throw new HotlineError('TRUST_INVALID', `roster ${state} v${ref.version} is not signed by the authority the charter names`);
    }
    rosters[state] = roster;
  }
  return { charter, rosters };
}

/** How a sender stands on a channel: a member of its state's roster, or a charter drill director. */
export type SenderStanding = { readonly as: 'member'; readonly member: RosterMember } | { readonly as: 'director' };

const directorKinds = new Set<EnvelopeHeader['kind']>(['notice', 'reply', 'raise']);

/**
 * Throws NOT_IN_ROSTER unless the signer is a PoC or alternate in the roster of the header's `fromState`, or a
 * director named by the charter sending a drill-marked notice, reply or raise.
 */
export function senderStanding(trust: HeaderTrust, h: EnvelopeHeader): SenderStanding {
  const roster = trust.rosters[h.fromState];
  const member = roster ? rosterMember(roster, h.from) : null;
  if (member && watchRoles.has(member.role)) return { as: 'member', member };
  if (h.drill !== null && directorKinds.has(h.kind) && trust.charter.directors.includes(h.from)) return { as: 'director' };
  const why = member
    ? `is ${h.fromState}'s ${member.role}, who may not send on a channel`
    : h.drill === null && trust.charter.directors.includes(h.from)
      ? 'is a drill director, who sends drill-marked notices only'
      : `is not in ${h.fromState}'s signed roster v${roster?.version ?? '?'}`;
  throw new HotlineError('NOT_IN_ROSTER', `the signer ${h.from.slice(0, 8)}… of ${h.kind} ${h.id} ${why}`, { detail: { kid: h.from, state: h.fromState } });
}

/** Members who must receive the channel's envelopes: the PoCs and alternates of `states`, by roster. */
export function watchMembers(trust: HeaderTrust | { readonly rosters: Readonly<Record<string, RosterBody>> }, states: readonly string[]): RosterMember[] {
  return states.flatMap((s) => trust.rosters[s]?.members.filter((m) => watchRoles.has(m.role)) ?? []);
}

/** Kinds whose acceptance starts an acknowledgement deadline. */
export const deadlineKinds: ReadonlySet<EnvelopeHeader['kind']> = new Set(['notice', 'raise']);

/** How long the acknowledgement of a notice or raise may take: the drill's signed figure for drill envelopes, else the charter's. */
export function ackWindow(charter: CharterBody, level: Level, drill: DrillMark | null): number {
  return drill?.ackWithinMs ?? charter.deadlines[level];
}

/** The ack deadline a relay must state for an envelope accepted at `acceptedAt`: null for kinds without one. */
export function expectedAckDeadline(charter: CharterBody, h: EnvelopeHeader, acceptedAt: number): number | null {
  if (!deadlineKinds.has(h.kind) || h.level === null) return null;
  return acceptedAt + ackWindow(charter, h.level, h.drill);
}

/** Throws DRILL_MIXING when `h` (answering `target`) crosses between a drill and real traffic, or two drills. */
export function checkDrillRefs(h: Pick<EnvelopeHeader, 'id' | 'drill'>, target: Pick<EnvelopeHeader, 'id' | 'drill'>): void {
  if (h.drill === null && target.drill === null) return;
  if (h.drill !== null && target.drill !== null && h.drill.drillId === target.drill.drillId) return;
  const what = (d: DrillMark | null) => (d === null ? 'a real envelope' : `drill ${d.drillId}`);
  throw new HotlineError('DRILL_MIXING', `${h.id} (${what(h.drill)}) refers to ${target.id} (${what(target.drill)})`);
}
