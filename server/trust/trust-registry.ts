// The relay's trust documents: it stores and serves the rosters and charters the state authorities signed, checks
// that each new version extends the last, and answers what the accept path asks. It can make or amend neither.
import {
  charterHash,
  charterParties,
  checkCharterExtends,
  checkRosterExtends,
  HotlineError,
  resolveHeaderTrust,
  rosterHash,
  verifyCharter,
  verifyRoster,
  type CharterBody,
  type EnvelopeHeader,
  type HeaderTrust,
  type RosterBody,
  type SignedCharter,
  type SignedRoster,
  type TrustView,
} from '../../shared/index.ts';
import type { AuditLog } from '../audit-log.ts';
import type { Clock } from '../clock.ts';
import type { RelayStore } from '../store.ts';

export interface InstalledDoc {
  readonly kind: 'roster' | 'charter';
  readonly subject: string;
  readonly version: number;
  readonly hash: string;
}

export class TrustRegistry {
  constructor(
    private readonly store: RelayStore,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  latestCharter(channel: string): SignedCharter | null {
    return (this.store.latestTrustDocOf('charter', channel)?.doc as SignedCharter | undefined) ?? null;
  }

  latestRoster(state: string): SignedRoster | null {
    return (this.store.latestTrustDocOf('roster', state)?.doc as SignedRoster | undefined) ?? null;
  }

  /** The authority every installed charter names for `state`, or null when no charter names the state. */
  authorityOf(state: string): string | null {
    for (const channel of this.store.trustDocSubjects('charter')) {
      const kid = this.latestCharter(channel)?.charter.authorities[state];
      if (kid !== undefined) return kid;
    }
    return null;
  }

  /**
   * Installs a charter version. Version 1 opens the channel on this relay, so it needs the operator (`byOperator`);
   * later versions need only both authorities' signatures and must extend the installed one.
   */
  installCharter(value: unknown, byOperator: boolean): InstalledDoc {
    const doc = verifyCharter(value);
    const c = doc.charter;
    const [a, b] = charterParties(c);
    const hash = charterHash(c);
    const latest = this.latestCharter(c.channel);
    if (latest && charterHash(latest.charter) === hash) return { kind: 'charter', subject: c.channel, version: c.version, hash };
    if (latest) checkCharterExtends(latest.charter, c);
    else {
      if (c.version !== 1) throw new HotlineError('TRUST_FORK', `${c.channel} has no charter here yet: install version 1 first`);
      if (!byOperator) throw new HotlineError('UNAUTHORIZED', 'installing the first charter of a channel opens it on this relay: the operator does that with the admin token');
      if (this.store.getChannel(`${b}-${a}`)) throw new HotlineError('CONFLICT', `this relay runs the channel as ${b}-${a}: propose the charter for ${b}-${a}`);
    }
    for (const state of [a, b]) {
      const known = this.authorityOf(state);
      const kid = c.authorities[state];
      if (known !== null && known !== kid) throw new HotlineError('TRUST_INVALID', `another charter on this relay names a different authority for ${state}`);
      const roster = this.latestRoster(state);
      if (roster && roster.roster.authority !== kid) throw new HotlineError('TRUST_INVALID', `${state}'s roster here is signed by a different authority`);
    }
    const now = this.clock.now();
    this.store.transaction(() => {
      if (!this.store.getChannel(c.channel)) this.store.openChannel(c.channel, a, b, c.deadlines, c.escalation, now);
      else this.store.setChannelTerms(c.channel, c.deadlines, c.escalation);
      this.store.putTrustDoc('charter', c.channel, c.version, hash, doc, now);
      this.audit.append('charter.installed', { channel: c.channel, version: c.version, hash, authorities: c.authorities }, now);
    });
    return { kind: 'charter', subject: c.channel, version: c.version, hash };
  }

  /** Installs a roster version: signed by the authority the state's charters name, extending the installed one. */
  installRoster(value: unknown): InstalledDoc {
    const state = rosterStateOf(value);
    const authority = this.authorityOf(state);
    if (authority === null) throw new HotlineError('NO_CHARTER', `no charter on this relay names ${state}'s authority: install the channel charter first`);
    const doc = verifyRoster(value, { state, authority });
    const r = doc.roster;
    const hash = rosterHash(r);
    const latest = this.latestRoster(state);
    if (latest && rosterHash(latest.roster) === hash) return { kind: 'roster', subject: state, version: r.version, hash };
    if (latest) checkRosterExtends(latest.roster, r);
    else if (r.version !== 1) throw new HotlineError('TRUST_FORK', `${state} has no roster here yet: install version 1 first`);
    const now = this.clock.now();
    this.store.transaction(() => {
      this.store.putTrustDoc('roster', state, r.version, hash, doc, now);
      this.audit.append('roster.installed', { state, version: r.version, hash, members: r.members.length }, now);
    });
    return { kind: 'roster', subject: state, version: r.version, hash };
  }

  /** What a member is shown: every version of the charters of `channels` and of the rosters of their states. */
  documentsFor(channels: readonly string[]): { charters: unknown[]; rosters: unknown[] } {
    const states = new Set(channels.flatMap((c) => c.split('-')));
    return {
      charters: channels.flatMap((c) => this.store.trustDocChain('charter', c)),
      rosters: [...states].sort().flatMap((s) => this.store.trustDocChain('roster', s)),
    };
  }

  /**
   * Channels a reviewer key may read timing records of: those whose charter lists it, and those of a state whose
   * signed roster lists it as a reviewer. The operator's enrolment of the key gives it none.
   */
  reviewableChannels(kid: string): string[] {
    return this.store.trustDocSubjects('charter').filter((channel) => {
      const c = this.latestCharter(channel)?.charter;
      if (!c) return false;
      if (c.reviewers.includes(kid)) return true;
      return charterParties(c).some((state) => this.latestRoster(state)?.roster.members.some((m) => m.kid === kid && m.role === 'reviewer') ?? false);
    });
  }

  /** Every document, for export bundles. */
  allDocuments(): { charters: unknown[]; rosters: unknown[] } {
    return this.documentsFor(this.store.trustDocSubjects('charter'));
  }

  /**
   * The charter and rosters an envelope header names, which must be the ones in force here: NO_CHARTER when the
   * channel has none, TRUST_STALE when the sender used an older version, SPLIT_VIEW on another document under it.
   */
  resolveCurrent(h: EnvelopeHeader): HeaderTrust {
    if (!this.latestCharter(h.channel)) throw new HotlineError('NO_CHARTER', `${h.channel} has no charter signed by both authorities: it carries no envelopes until one is installed`);
    return resolveHeaderTrust(this.currentView, h);
  }

  /** The documents a header names, in force or not (for the identical resend of an envelope already on record). */
  resolveStored(h: EnvelopeHeader): HeaderTrust {
    return resolveHeaderTrust(this.storedView, h);
  }

  private readonly storedView: TrustView = {
    charter: (channel: string, version: number): CharterBody | null =>
      (this.store.trustDocChain('charter', channel) as SignedCharter[]).find((d) => d.charter.version === version)?.charter ?? null,
    roster: (state: string, version: number): RosterBody | null =>
      (this.store.trustDocChain('roster', state) as SignedRoster[]).find((d) => d.roster.version === version)?.roster ?? null,
  };

  /** A view that holds only the versions in force, so that a stale reference reads as TRUST_STALE. */
  private readonly currentView: TrustView = {
    charter: (channel: string, version: number): CharterBody | null => {
      const latest = this.latestCharter(channel);
      return latest && latest.charter.version === version ? latest.charter : null;
    },
    roster: (state: string, version: number): RosterBody | null => {
      const latest = this.latestRoster(state);
      return latest && latest.roster.version === version ? latest.roster : null;
    },
  };
}

function rosterStateOf(value: unknown): string {
  const state = (value as { roster?: { state?: unknown } } | null)?.roster?.state;
  if (typeof state !== 'string' || !/^[A-Z][A-Z0-9]{1,7}$/.test(state)) throw new HotlineError('TRUST_INVALID', 'roster: roster.state: not a state code');
  return state;
}
