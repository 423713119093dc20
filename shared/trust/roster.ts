// A state's roster: its members (kid, name, role) as a versioned, hash-linked document signed by the state authority.
import { canonicalHash } from '../canonical.ts';
import { HotlineError } from '../errors.ts';
import { signStatement, verifyStatement, type Identity } from '../identity.ts';
import { findLookAlike } from './confusables.ts';
import { signedRosterSchema, type RosterBody, type RosterMember, type SignedRoster } from './documents.ts';

/** Domain string of the authority's signature over a roster body. */
export const ROSTER_SIG_CTX = 'hotline-roster-v1';
/** Domain string of a roster body's hash (what `prev` and envelope headers name). */
export const ROSTER_HASH_CTX = 'hotline-roster-hash-v1';

/** BLAKE2b-256 over canonical({ctx: 'hotline-roster-hash-v1', roster: body}), base64url. */
export function rosterHash(body: RosterBody): string {
  // Remembered per body object: the relay and clients name the same few documents on every envelope. Bodies are never
  // changed in place once parsed (a new version is a new object).
  let h = rosterHashes.get(body);
  if (h === undefined) rosterHashes.set(body, (h = canonicalHash({ ctx: ROSTER_HASH_CTX, roster: body })));
  return h;
}
const rosterHashes = new WeakMap<RosterBody, string>();

/** Signs a roster body as its state's authority; refuses look-alike names and repeated keys before signing. */
export function signRoster(authority: Identity, body: RosterBody): SignedRoster {
  if (body.authority !== authority.kid) throw new HotlineError('TRUST_INVALID', 'the roster names another authority than the signing key');
  checkRosterMembers(body.members);
  return signedRosterSchema.parse({ roster: body, sig: signStatement(authority, ROSTER_SIG_CTX, { roster: body }) });
}

/** The next version of `previous` (or version 1 of `state` when null) with `members`; unsigned. */
export function nextRosterBody(previous: RosterBody | null, init: { state: string; authority: string }, members: readonly RosterMember[], issuedAt: number): RosterBody {
  return {
    v: 1,
    state: previous?.state ?? init.state,
    version: (previous?.version ?? 0) + 1,
    prev: previous ? rosterHash(previous) : null,
    issuedAt,
    authority: previous?.authority ?? init.authority,
    members: [...members],
  };
}

/** Each key once, no member is the authority itself, and no two names a person could take for each other. */
export function checkRosterMembers(members: readonly RosterMember[]): void {
  const kids = new Set<string>();
  for (const m of members) {
    if (kids.has(m.kid)) throw new HotlineError('TRUST_INVALID', `key ${m.kid.slice(0, 8)}… is listed twice in the roster`);
    kids.add(m.kid);
  }
  const pair = findLookAlike(members.map((m) => m.name));
  if (pair) {
    const [a, b] = pair.map((i) => members[i]?.name ?? '');
    throw new HotlineError('LOOKALIKE_NAME', `"${b}" looks like "${a}", already on the roster: a person could take one for the other`, {
      detail: { names: [a, b] },
    });
  }
}

/**
 * Parses a roster from outside and checks its signature against the authority that must have signed it.
 * Throws TRUST_INVALID (schema, signature, wrong authority, repeated keys) or LOOKALIKE_NAME.
 */
export function verifyRoster(value: unknown, expected: { state?: string; authority: string }): SignedRoster {
  const parsed = signedRosterSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HotlineError('TRUST_INVALID', `roster: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  const doc = parsed.data;
  const r = doc.roster;
  if (expected.state !== undefined && r.state !== expected.state) throw new HotlineError('TRUST_INVALID', `roster is for ${r.state}, not ${expected.state}`);
  if (r.authority !== expected.authority) throw new HotlineError('TRUST_INVALID', `roster of ${r.state} v${r.version} is not from ${r.state}'s authority`);
  if ((r.version === 1) !== (r.prev === null)) throw new HotlineError('TRUST_INVALID', 'only version 1 of a roster has no previous version');
  if (!verifyStatement(r.authority, doc.sig, ROSTER_SIG_CTX, { roster: r })) {
    throw new HotlineError('TRUST_INVALID', `roster of ${r.state} v${r.version}: the authority's signature does not verify`);
  }
  checkRosterMembers(r.members);
  return doc;
}

/** Throws TRUST_FORK unless `next` is the version right after `previous` and names its hash. */
export function checkRosterExtends(previous: RosterBody, next: RosterBody): void {
  if (next.state !== previous.state || next.version !== previous.version + 1 || next.prev !== rosterHash(previous)) {
    throw new HotlineError('TRUST_FORK', `roster of ${next.state} v${next.version} does not extend the verified v${previous.version}`);
  }
}

/**
 * Verifies a run of roster versions on top of `held` (the newest already verified, or null), oldest first, and
 * returns the newest. Each must be signed by `authority` and extend the one before; a version equal to one
 * already held with another hash is a fork. Returns the versions that were new, oldest first.
 */
export function verifyRosterChain(held: SignedRoster | null, chain: readonly unknown[], authority: string): SignedRoster[] {
  let newest = held;
  const added: SignedRoster[] = [];
  for (const value of chain) {
    // Versions older than the newest held were verified when they were new: skip them without the signature check.
    const version = (value as { roster?: { version?: unknown } } | null)?.roster?.version;
    if (newest && typeof version === 'number' && version < newest.roster.version) continue;
    const doc = verifyRoster(value, { state: held?.roster.state, authority });
    if (newest && doc.roster.version <= newest.roster.version) {
      if (doc.roster.version === newest.roster.version && rosterHash(doc.roster) !== rosterHash(newest.roster)) {
        throw new HotlineError('SPLIT_VIEW', `two different rosters of ${doc.roster.state} claim version ${doc.roster.version}`);
      }
      continue;
    }
    if (newest) checkRosterExtends(newest.roster, doc.roster);
    else if (doc.roster.version !== 1) throw new HotlineError('TRUST_FORK', `roster of ${doc.roster.state} starts at v${doc.roster.version}, not v1`);
    newest = doc;
    added.push(doc);
  }
  return added;
}

/** The member entry of `kid` in `roster`, or null. */
export function rosterMember(roster: RosterBody, kid: string): RosterMember | null {
  return roster.members.find((m) => m.kid === kid) ?? null;
}
