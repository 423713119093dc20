// A channel's charter: deadlines, escalation, drill directors, reviewers, time tolerance and template catalogue,
// versioned and hash-linked, signed by the authorities of both states. The relay can store it, never make it.
import { canonicalHash } from '../canonical.ts';
import { HotlineError } from '../errors.ts';
import { signStatement, verifyStatement, type Identity } from '../identity.ts';
import { signedCharterSchema, type CharterBody, type SignedCharter } from './documents.ts';

/** Domain string of each authority's signature over a charter body. */
export const CHARTER_SIG_CTX = 'hotline-charter-v1';
/** Domain string of a charter body's hash (what `prev` and envelope headers name). */
export const CHARTER_HASH_CTX = 'hotline-charter-hash-v1';

/** Default time tolerance: how far a relay's clock may be from a PoC's before the PoC's client alarms. */
export const DEFAULT_TIME_TOLERANCE_MS = 2 * 60_000;

/** BLAKE2b-256 over canonical({ctx: 'hotline-charter-hash-v1', charter: body}), base64url. */
export function charterHash(body: CharterBody): string {
  // Remembered per body object, as rosterHash.
  let h = charterHashes.get(body);
  if (h === undefined) charterHashes.set(body, (h = canonicalHash({ ctx: CHARTER_HASH_CTX, charter: body })));
  return h;
}
const charterHashes = new WeakMap<CharterBody, string>();

/** The two states of a charter's channel, in the channel id's order. */
export function charterParties(body: CharterBody): [string, string] {
  const [a, b] = body.channel.split('-') as [string, string];
  return [a, b];
}

function checkCharterShape(body: CharterBody): void {
  const [a, b] = charterParties(body);
  if (a === b) throw new HotlineError('TRUST_INVALID', 'a channel joins two different states');
  const named = Object.keys(body.authorities).sort();
  if (named.length !== 2 || named[0] !== [a, b].sort()[0] || named[1] !== [a, b].sort()[1]) {
    throw new HotlineError('TRUST_INVALID', `the charter of ${body.channel} must name the authority of ${a} and of ${b}, and no other`);
  }
  if (body.authorities[a] === body.authorities[b]) throw new HotlineError('TRUST_INVALID', 'the two states need two different authority keys');
  if ((body.version === 1) !== (body.prev === null)) throw new HotlineError('TRUST_INVALID', 'only version 1 of a charter has no previous version');
  if (new Set(body.directors).size !== body.directors.length) throw new HotlineError('TRUST_INVALID', 'a director is listed twice');
  if (new Set(body.reviewers).size !== body.reviewers.length) throw new HotlineError('TRUST_INVALID', 'a reviewer is listed twice');
}

/** Adds `state`'s signature (its authority must be the one the charter names) to a proposed or half-signed charter. */
export function signCharter(doc: { charter: CharterBody; sigs?: Record<string, string> }, state: string, authority: Identity): SignedCharter {
  checkCharterShape(doc.charter);
  if (doc.charter.authorities[state] !== authority.kid) {
    throw new HotlineError('TRUST_INVALID', `this charter names another key as ${state}'s authority`);
  }
  const sig = signStatement(authority, CHARTER_SIG_CTX, { charter: doc.charter });
  return signedCharterSchema.parse({ charter: doc.charter, sigs: { ...(doc.sigs ?? {}), [state]: sig } });
}

/** States whose authority has not signed yet (an empty list: the charter is in force once verified). */
export function missingCharterSignatures(doc: SignedCharter): string[] {
  return charterParties(doc.charter).filter((s) => doc.sigs[s] === undefined);
}

/**
 * Parses a charter from outside and checks both authorities' signatures. `pinned` (state → authority kid) must
 * match when given: a PoC pins its own state's authority, so a charter its authority never signed is refused.
 * Throws TRUST_INVALID.
 */
export function verifyCharter(value: unknown, pinned: Readonly<Record<string, string>> = {}): SignedCharter {
  const parsed = signedCharterSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HotlineError('TRUST_INVALID', `charter: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  const doc = parsed.data;
  const c = doc.charter;
  checkCharterShape(c);
  for (const [state, kid] of Object.entries(pinned)) {
    if (c.authorities[state] !== undefined && c.authorities[state] !== kid) {
      throw new HotlineError('TRUST_INVALID', `the charter of ${c.channel} v${c.version} names another authority for ${state} than the one pinned`);
    }
  }
  for (const state of charterParties(c)) {
    const sig = doc.sigs[state];
    const kid = c.authorities[state] as string;
    if (sig === undefined) throw new HotlineError('TRUST_INVALID', `the charter of ${c.channel} v${c.version} lacks ${state}'s signature`);
    if (!verifyStatement(kid, sig, CHARTER_SIG_CTX, { charter: c })) {
      throw new HotlineError('TRUST_INVALID', `the charter of ${c.channel} v${c.version}: ${state}'s authority signature does not verify`);
    }
  }
  if (Object.keys(doc.sigs).length !== 2) throw new HotlineError('TRUST_INVALID', 'a charter carries exactly the two parties\' signatures');
  return doc;
}

/** Throws TRUST_FORK unless `next` is the version right after `previous`, names its hash and keeps its authorities. */
export function checkCharterExtends(previous: CharterBody, next: CharterBody): void {
  if (next.channel !== previous.channel || next.version !== previous.version + 1 || next.prev !== charterHash(previous)) {
    throw new HotlineError('TRUST_FORK', `charter of ${next.channel} v${next.version} does not extend the verified v${previous.version}`);
  }
  for (const [state, kid] of Object.entries(previous.authorities)) {
    if (next.authorities[state] !== kid) throw new HotlineError('TRUST_FORK', `charter v${next.version} changes ${state}'s authority; that needs a new channel`);
  }
}

/** As verifyRosterChain, for a channel's charter versions: returns the versions that were new, oldest first. */
export function verifyCharterChain(held: SignedCharter | null, chain: readonly unknown[], pinned: Readonly<Record<string, string>> = {}): SignedCharter[] {
  let newest = held;
  const added: SignedCharter[] = [];
  for (const value of chain) {
    const version = (value as { charter?: { version?: unknown } } | null)?.charter?.version;
    if (newest && typeof version === 'number' && version < newest.charter.version) continue;
    const doc = verifyCharter(value, pinned);
    if (held && doc.charter.channel !== held.charter.channel) throw new HotlineError('TRUST_INVALID', `charter of ${doc.charter.channel} in the chain of ${held.charter.channel}`);
    if (newest && doc.charter.version <= newest.charter.version) {
      if (doc.charter.version === newest.charter.version && charterHash(doc.charter) !== charterHash(newest.charter)) {
        throw new HotlineError('SPLIT_VIEW', `two different charters of ${doc.charter.channel} claim version ${doc.charter.version}`);
      }
      continue;
    }
    if (newest) checkCharterExtends(newest.charter, doc.charter);
    else if (doc.charter.version !== 1) throw new HotlineError('TRUST_FORK', `charter of ${doc.charter.channel} starts at v${doc.charter.version}, not v1`);
    newest = doc;
    added.push(doc);
  }
  return added;
}
