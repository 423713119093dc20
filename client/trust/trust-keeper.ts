// Takes in the trust documents a relay serves: verifies each chain against what this PoC already holds and its
// pinned state authority, keeps what is new, and reports every fork, split view or bad signature as an alarm.
import {
  charterParties,
  fingerprint,
  HotlineError,
  sameFingerprint,
  toHotlineError,
  verifyCharter,
  verifyCharterChain,
  verifyRoster,
  verifyRosterChain,
  type SignedCharter,
} from '../../shared/index.ts';
import type { TrustStore } from './trust-store.ts';

/** Who this PoC trusts to begin with: its own state and the fingerprint of that state's authority. */
export interface TrustAnchor {
  readonly state: string | null;
  /** null: nothing pinned (a drill director, who takes the charters that name it on first sight). */
  readonly authorityFingerprint: string | null;
}

export interface IngestResult {
  readonly alarms: readonly HotlineError[];
  readonly added: number;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string | null): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k === null) continue;
    out.set(k, [...(out.get(k) ?? []), item]);
  }
  return out;
}

function field(value: unknown, outer: string, inner: string): string | null {
  const v = (value as Record<string, Record<string, unknown> | undefined> | null)?.[outer]?.[inner];
  return typeof v === 'string' ? v : null;
}

/**
 * Verifies and stores the charters, then the rosters, that `relay` served. Charters of channels this PoC's state is
 * party to must name its pinned authority; rosters must be signed by the authority their state's charter names.
 */
export function ingestTrustDocuments(store: TrustStore, anchor: TrustAnchor, relay: string, docs: { charters: readonly unknown[]; rosters: readonly unknown[] }, now: number): IngestResult {
  const alarms: HotlineError[] = [];
  let added = 0;
  const alarm = (cause: unknown, what: string) => {
    const e = toHotlineError(cause);
    alarms.push(new HotlineError(e.code, `${relay}: ${what}: ${e.message}`, { detail: { relay, ...e.detail } }));
  };
  for (const [channel, served] of groupBy(docs.charters, (d) => field(d, 'charter', 'channel'))) {
    try {
      const chain = notYetHeld(served, 'charter', (v) => store.charter(channel, v), (value) => verifyCharter(value));
      const fresh = verifyCharterChain(store.latestCharter(channel), chain);
      for (const doc of fresh) {
        checkPinnedAuthority(doc, anchor);
        store.addCharter(doc, now);
        added++;
      }
    } catch (cause) {
      alarm(cause, `charter of ${channel}`);
    }
  }
  for (const [state, served] of groupBy(docs.rosters, (d) => field(d, 'roster', 'state'))) {
    const authority = authorityFor(store, state);
    if (authority === null) continue;
    try {
      const chain = notYetHeld(served, 'roster', (v) => store.roster(state, v), (value) => verifyRoster(value, { state, authority }));
      for (const doc of verifyRosterChain(store.latestRoster(state), chain, authority)) {
        store.addRoster(doc, now);
        added++;
      }
    } catch (cause) {
      alarm(cause, `roster of ${state}`);
    }
  }
  return { alarms, added };
}

/**
 * The served versions this PoC does not hold yet. A version it holds, served with the same signature(s), is the same
 * document (Ed25519 signatures are deterministic over the body): skipped without hashing or verifying. One served
 * with other signatures is verified, and if it checks out it is a split view: the relay shows someone else another
 * document under that number.
 */
function notYetHeld(served: readonly unknown[], kind: 'roster' | 'charter', held: (version: number) => unknown, verify: (value: unknown) => unknown): unknown[] {
  const sigsOf = (value: unknown) => JSON.stringify(kind === 'roster' ? (value as { sig?: unknown })?.sig : (value as { sigs?: unknown })?.sigs);
  const out: unknown[] = [];
  for (const value of served) {
    const version = (value as Record<string, { version?: unknown } | undefined> | null)?.[kind]?.version;
    const mine = typeof version === 'number' ? held(version) : null;
    if (!mine) {
      out.push(value);
      continue;
    }
    if (sigsOf(mine) === sigsOf(value)) continue;
    verify(value);
    throw new HotlineError('SPLIT_VIEW', `another ${kind} is served under version ${version} than the one verified here`);
  }
  return out;
}

/** The authority the held charters name for `state` (they agree: the relay refuses others, and so does this check). */
export function authorityFor(store: TrustStore, state: string): string | null {
  for (const c of store.charters()) {
    const kid = c.charter.authorities[state];
    if (kid !== undefined) return kid;
  }
  return null;
}

function checkPinnedAuthority(doc: SignedCharter, anchor: TrustAnchor): void {
  const own = anchor.state;
  if (own === null || !charterParties(doc.charter).includes(own)) {
    if (anchor.authorityFingerprint === null) return;
    throw new HotlineError('TRUST_INVALID', `charter of ${doc.charter.channel} does not involve ${own ?? 'this identity'}'s state`);
  }
  if (anchor.authorityFingerprint === null) {
    throw new HotlineError('TRUST_INVALID', `no state authority is pinned: run \`hotline join INVITE --authority FINGERPRINT\` (or \`hotline authority pin FINGERPRINT\`)`);
  }
  const kid = doc.charter.authorities[own] as string;
  if (!sameFingerprint(fingerprint(kid), anchor.authorityFingerprint)) {
    throw new HotlineError('TRUST_INVALID', `charter of ${doc.charter.channel} v${doc.charter.version} is not signed by ${own}'s authority pinned here (it names fingerprint ${fingerprint(kid)})`);
  }
}
