// The authority's roster edits: add (or change) a member, remove one; each signs the next version of its state's roster.
import {
  HotlineError,
  keyIdSchema,
  nameSchema,
  namesLookAlike,
  nextRosterBody,
  rosterRoles,
  signRoster,
  type RosterMember,
  type RosterRole,
  type SignedRoster,
} from '../../shared/index.ts';
import type { Authority } from './authority-keystore.ts';

/** What an edit did, for the officer to read back. */
export interface RosterEdit {
  readonly doc: SignedRoster;
  readonly outcome: 'added' | 'changed' | 'removed';
  readonly member: RosterMember;
  /** The entry it replaced when `outcome` is 'changed'. */
  readonly before: RosterMember | null;
}

/** Shortest key-id prefix `roster remove` accepts. */
export const MIN_KID_PREFIX = 8;

/**
 * Signs the next version of the authority's roster with `kid` on it as `name` and `role`: a new member is appended,
 * a member already on it gets the new name or role. Throws BAD_INPUT (not a key id, name or role; the authority's own
 * key), CONFLICT (already on it as given), LOOKALIKE_NAME (a person could take the name for another member's).
 * @example addRosterMember(authority, newest, { kid, name: 'CN CERT duty officer', role: 'poc' }, Date.now())
 */
export function addRosterMember(authority: Authority, previous: SignedRoster | null, entry: { kid: string; name: string; role: string }, now: number): RosterEdit {
  const member = rosterMemberOf(entry);
  if (member.kid === authority.identity.kid) {
    throw new HotlineError('BAD_INPUT', "that is the authority's own key: the authority signs the roster and is never a member of it");
  }
  const members = previous?.roster.members ?? [];
  const before = members.find((m) => m.kid === member.kid) ?? null;
  const where = `${authority.state}'s roster v${previous?.roster.version ?? 0}`;
  if (before && before.name === member.name && before.role === member.role) {
    throw new HotlineError('CONFLICT', `key ${short(member.kid)} is already on ${where} as "${member.name}" (${member.role}) already: nothing to do`);
  }
  const alike = members.find((m) => m.kid !== member.kid && namesLookAlike(m.name, member.name));
  if (alike) {
    const same = alike.name === member.name;
    throw new HotlineError(
      'LOOKALIKE_NAME',
      `"${member.name}"${unusualCharacters(member.name, alike.name)} ${same ? 'is' : 'looks like'} "${alike.name}", the name of key ${short(alike.kid)} (${alike.role}) on ${where}: a person could take one for the other`,
      { detail: { names: [alike.name, member.name], kids: [alike.kid, member.kid] } },
    );
  }
  const next = before ? members.map((m) => (m.kid === member.kid ? member : m)) : [...members, member];
  return { doc: sign(authority, previous, next, now), outcome: before ? 'changed' : 'added', member, before };
}

/**
 * Signs the next version of the authority's roster without `kidOrPrefix` (a full key id, or a prefix of at least
 * MIN_KID_PREFIX characters that names one member). Throws NOT_FOUND, or BAD_INPUT for an ambiguous prefix.
 */
export function removeRosterMember(authority: Authority, previous: SignedRoster | null, kidOrPrefix: string, now: number): RosterEdit {
  const members = previous?.roster.members ?? [];
  const wanted = kidOrPrefix.trim();
  const exact = members.find((m) => m.kid === wanted);
  const matches = exact ? [exact] : wanted.length >= MIN_KID_PREFIX ? members.filter((m) => m.kid.startsWith(wanted)) : [];
  const [member] = matches;
  if (matches.length > 1) throw new HotlineError('BAD_INPUT', `"${wanted}" is the start of ${matches.length} members' key ids; give more of the key id`);
  if (!member) {
    throw new HotlineError('NOT_FOUND', `no member with key ${short(wanted)} on ${authority.state}'s roster v${previous?.roster.version ?? 0} (see hotline roster show)`);
  }
  return { doc: sign(authority, previous, members.filter((m) => m.kid !== member.kid), now), outcome: 'removed', member, before: member };
}

function sign(authority: Authority, previous: SignedRoster | null, members: readonly RosterMember[], now: number): SignedRoster {
  const body = nextRosterBody(previous?.roster ?? null, { state: authority.state, authority: authority.identity.kid }, members, Math.max(now, previous?.roster.issuedAt ?? 0));
  return signRoster(authority.identity, body);
}

function rosterMemberOf(entry: { kid: string; name: string; role: string }): RosterMember {
  const kid = entry.kid.trim();
  if (!keyIdSchema.safeParse(kid).success) {
    throw new HotlineError('BAD_INPUT', `"${entry.kid}" is not a key id (43 base64url characters; the member reads it from \`hotline whoami\`)`);
  }
  const name = entry.name.trim().replace(/\s+/gu, ' ');
  const named = nameSchema.safeParse(name);
  if (!named.success) throw new HotlineError('BAD_INPUT', `--name: ${named.error.issues[0]?.message ?? 'invalid'} (1 to 80 characters)`);
  const role = entry.role.trim().toLowerCase();
  if (!(rosterRoles as readonly string[]).includes(role)) throw new HotlineError('BAD_INPUT', `--role must be one of ${rosterRoles.join(', ')}`);
  return { kid, name, role: role as RosterRole };
}

// The characters of `name` that `other` lacks, as code points, so the officer sees why two names that read the same differ.
function unusualCharacters(name: string, other: string): string {
  const theirs = new Set(other);
  const odd = [...new Set(name)].filter((c) => !theirs.has(c));
  if (odd.length === 0) return '';
  return ` (with ${odd.map((c) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`).join(', ')})`;
}

function short(kid: string): string {
  return `${kid.slice(0, 8)}…`;
}
