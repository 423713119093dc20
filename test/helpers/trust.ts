// The trust ceremony for tests: fixed-seed state authorities, a charter both sign (installed with the admin token)
// and each state's roster, published to the relay exactly as `hotline charter sign --publish` and `roster add` do.
import {
  createIdentity,
  initCrypto,
  deadlineTable,
  defaultEscalationPolicy,
  DEFAULT_TIME_TOLERANCE_MS,
  fingerprint,
  nextRosterBody,
  signCharter,
  signRoster,
  charterHash,
  type CharterBody,
  type EscalationPolicy,
  type Identity,
  type Level,
  type RosterMember,
  type SignedCharter,
  type SignedRoster,
  type TrustRefs,
  rosterHash,
} from '../../shared/index.ts';
import { seed } from './fixed-keys.ts';

/** Each state's authority in tests: the same key every run, so a PoC can pin it before any charter exists. */
export function testAuthority(state: string): Identity {
  return createIdentity(seed(`authority:${state}`));
}

/** As testAuthority, for callers that may run before initCrypto() (CLI helpers in a test process). */
export async function readyAuthorityFingerprint(state: string): Promise<string> {
  await initCrypto();
  return authorityFingerprint(state);
}

/** The fingerprint a PoC of `state` pins at join (`hotline join --authority`). */
export function authorityFingerprint(state: string): string {
  return fingerprint(testAuthority(state).kid).replace(/\s/g, '');
}

export interface RelayTarget {
  readonly httpUrl: string;
  readonly adminToken: string;
}

export interface CharterTerms {
  readonly deadlines?: Partial<Record<Level, number>>;
  readonly escalation?: EscalationPolicy;
  readonly directors?: readonly string[];
  readonly reviewers?: readonly string[];
  readonly timeTolerance?: number;
  /** The charter requires hybrid (X25519 + ML-KEM-768) wrapping. */
  readonly requireHybrid?: boolean;
  /** catalogueHash of the template catalogue the charter binds. */
  readonly templates?: string | null;
}

/** Version `version` of a channel charter, signed by both test authorities (or the ones given). */
export function testCharter(channel: string, terms: CharterTerms = {}, previous: SignedCharter | null = null, authorities: Record<string, Identity> = {}): SignedCharter {
  const [a, b] = channel.split('-') as [string, string];
  const auth = (s: string) => authorities[s] ?? testAuthority(s);
  const body: CharterBody = {
    v: 1,
    channel,
    version: (previous?.charter.version ?? 0) + 1,
    prev: previous ? charterHash(previous.charter) : null,
    issuedAt: Date.now(),
    authorities: { [a]: auth(a).kid, [b]: auth(b).kid },
    deadlines: { ...deadlineTable(terms.deadlines ?? {}) },
    escalation: [...(terms.escalation ?? defaultEscalationPolicy)],
    directors: [...(terms.directors ?? [])],
    reviewers: [...(terms.reviewers ?? [])],
    templates: terms.templates ?? null,
    timeTolerance: terms.timeTolerance ?? DEFAULT_TIME_TOLERANCE_MS,
    ...(terms.requireHybrid === true ? { hybridWrap: 'required' as const } : {}),
  };
  return signCharter(signCharter({ charter: body }, a, auth(a)), b, auth(b));
}

export async function postTrust(relay: RelayTarget, kind: 'charters' | 'rosters', doc: unknown, withToken = kind === 'charters'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${relay.httpUrl}/v1/trust/${kind}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(withToken ? { authorization: `Bearer ${relay.adminToken}` } : {}) },
    body: JSON.stringify(doc),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function mustPost(relay: RelayTarget, kind: 'charters' | 'rosters', doc: unknown): Promise<void> {
  const r = await postTrust(relay, kind, doc);
  if (r.status !== 201) throw new Error(`POST /v1/trust/${kind}: ${r.status} ${JSON.stringify(r.body)}`);
}

/**
 * The newest roster and charter each test relay holds, so that a later call signs the next version. Keyed by the
 * relay's admin token (one per data dir, kept across restarts), not its URL: port 0 may hand a later relay the port of
 * an earlier one.
 */
const rostersByRelay = new Map<string, Map<string, SignedRoster>>();
const chartersByRelay = new Map<string, Map<string, SignedCharter>>();
/** The admin token of the relay that last installed something at each URL. */
const tokenAtUrl = new Map<string, string>();

function relayKey(relay: RelayTarget): string {
  tokenAtUrl.set(relay.httpUrl, relay.adminToken);
  return relay.adminToken;
}

/** Signs and installs (a new version of) a channel's charter on the relay; version 1 opens the channel there. */
export async function installCharter(relay: RelayTarget, channel: string, terms: CharterTerms = {}): Promise<SignedCharter> {
  const held = chartersByRelay.get(relayKey(relay)) ?? new Map<string, SignedCharter>();
  chartersByRelay.set(relayKey(relay), held);
  const doc = testCharter(channel, terms, held.get(channel) ?? null);
  await mustPost(relay, 'charters', doc);
  held.set(channel, doc);
  return doc;
}

/** Someone who goes on a roster: an enrolled test PoC, a raw peer, or plain fields. */
export interface RosterEntrant {
  readonly state?: string;
  readonly name?: string;
  readonly role?: string;
  readonly kid?: string;
  readonly identity?: Identity;
  readonly keystore?: { readonly identity: Identity; readonly name: string };
  readonly profile?: { readonly kid: string; readonly name: string; readonly role: string | null; readonly state: string | null };
}

function memberOf(e: RosterEntrant): RosterMember {
  const kid = e.kid ?? e.profile?.kid ?? e.keystore?.identity.kid ?? e.identity?.kid;
  if (!kid) throw new Error('roster entrant without a key');
  const role = (e.role ?? e.profile?.role ?? 'poc') as string;
  return { kid, name: e.name ?? e.profile?.name ?? e.keystore?.name ?? `${e.state ?? e.profile?.state} ${kid.slice(0, 6)}`, role: role === 'alternate' || role === 'reviewer' ? role : 'poc' };
}

/** Adds `entrants` to their states' rosters (one new version per state touched) and installs them on the relay. */
export async function installRosters(relay: RelayTarget, entrants: readonly RosterEntrant[]): Promise<Map<string, SignedRoster>> {
  const held = rostersByRelay.get(relayKey(relay)) ?? new Map<string, SignedRoster>();
  rostersByRelay.set(relayKey(relay), held);
  const byState = new Map<string, RosterMember[]>();
  for (const e of entrants) {
    const state = e.state ?? e.profile?.state;
    if (!state) throw new Error('roster entrant without a state');
    byState.set(state, [...(byState.get(state) ?? []), memberOf(e)]);
  }
  for (const [state, members] of byState) {
    const previous = held.get(state) ?? null;
    const kept = (previous?.roster.members ?? []).filter((m) => !members.some((n) => n.kid === m.kid));
    const authority = testAuthority(state);
    const doc = signRoster(authority, nextRosterBody(previous?.roster ?? null, { state, authority: authority.kid }, [...kept, ...members], Date.now()));
    await mustPost(relay, 'rosters', doc);
    held.set(state, doc);
  }
  return held;
}

/** Removes `kids` from `state`'s roster (a new version). */
export async function removeFromRoster(relay: RelayTarget, state: string, kids: readonly string[]): Promise<SignedRoster> {
  const previous = rostersByRelay.get(relayKey(relay))?.get(state);
  if (!previous) throw new Error(`no roster of ${state} installed by the helper`);
  const authority = testAuthority(state);
  const doc = signRoster(authority, nextRosterBody(previous.roster, { state, authority: authority.kid }, previous.roster.members.filter((m) => !kids.includes(m.kid)), Date.now()));
  await mustPost(relay, 'rosters', doc);
  rostersByRelay.get(relayKey(relay))?.set(state, doc);
  return doc;
}

/** The charter of `channel` (installed if the relay has none from this helper yet) and the rosters of `entrants`. */
export async function chartered(relay: RelayTarget, channel: string, entrants: readonly RosterEntrant[], terms: CharterTerms = {}): Promise<void> {
  if (!chartersByRelay.get(relayKey(relay))?.has(channel)) await installCharter(relay, channel, terms);
  if (entrants.length) await installRosters(relay, entrants);
}

/** The charter and roster references a sender on `channel` names, as installed on the relay by this helper (undefined: none). */
export function currentRefs(relay: string | RelayTarget, channel: string): TrustRefs | undefined {
  const key = typeof relay === 'string' ? tokenAtUrl.get(relay) : relay.adminToken;
  if (key === undefined) return undefined;
  const charter = chartersByRelay.get(key)?.get(channel);
  if (!charter) return undefined;
  const rosters: TrustRefs['rosters'] = {};
  for (const state of channel.split('-')) {
    const r = rostersByRelay.get(key)?.get(state);
    rosters[state] = r ? { version: r.roster.version, hash: rosterHash(r.roster) } : { version: 1, hash: 'A'.repeat(43) };
  }
  return { charter: { version: charter.charter.version, hash: charterHash(charter.charter) }, rosters };
}
