// The other authority's side of the charter ceremony: check a proposal against the fingerprint compared out of band
// and against the charter in force, then add its own signature.
import {
  CHARTER_SIG_CTX,
  charterHash,
  charterParties,
  checkCharterExtends,
  fingerprint,
  HotlineError,
  sameFingerprint,
  signCharter,
  verifyCharter,
  verifyStatement,
  type SignedCharter,
} from '../../shared/index.ts';
import type { Authority } from './authority-keystore.ts';

export type SignatureStatus = 'valid' | 'invalid' | 'missing';

/** Each party's signature on a (possibly half-signed) charter: there and verifying, there and not, or absent. */
export function signatureStatus(doc: SignedCharter): Record<string, SignatureStatus> {
  const status: Record<string, SignatureStatus> = {};
  for (const state of charterParties(doc.charter)) {
    const sig = doc.sigs[state];
    const kid = doc.charter.authorities[state];
    if (sig === undefined) status[state] = 'missing';
    else status[state] = kid !== undefined && verifyStatement(kid, sig, CHARTER_SIG_CTX, { charter: doc.charter }) ? 'valid' : 'invalid';
  }
  return status;
}

/** True when `input` has the shape of a fingerprint (30 digits; spaces and dashes ignored). */
export function isFingerprint(input: string): boolean {
  return /^\d{30}$/.test(input.replace(/[\s-]/g, ''));
}

/**
 * Adds `authority`'s signature to a charter the other state's authority proposed, after checking that the proposer
 * signed it with the key whose fingerprint is `proposerFingerprint` (as compared out of band), that it names this
 * authority for its state, and that it extends `held` (the newest charter of the channel both signed, if any).
 * Returns the fully signed charter, verified. Throws TRUST_INVALID, TRUST_FORK, CONFLICT (already signed), BAD_INPUT.
 */
export function countersignCharter(authority: Authority, doc: SignedCharter, proposerFingerprint: string, held: SignedCharter | null): SignedCharter {
  const c = doc.charter;
  const own = authority.state;
  const parties = charterParties(c);
  if (!parties.includes(own)) throw new HotlineError('BAD_INPUT', `this authority is ${own}'s, and ${c.channel} is not a channel of ${own}`);
  const other = parties[0] === own ? parties[1] : parties[0];
  if (!isFingerprint(proposerFingerprint)) {
    throw new HotlineError('BAD_INPUT', `--peer-fingerprint "${proposerFingerprint}" is not a fingerprint (six groups of five digits, as ${other}'s authority read it to you)`);
  }
  const status = signatureStatus(doc);
  if (status[own] !== 'missing') {
    if (status[other] === 'valid' && status[own] === 'valid') throw new HotlineError('CONFLICT', `${c.channel} v${c.version} already carries both authorities' signatures; publish it with hotline charter publish FILE`);
    throw new HotlineError('BAD_INPUT', `${c.channel} v${c.version} already carries a signature for ${own}: this is ${own}'s own proposal, for ${other}'s authority to sign`);
  }
  if (status[other] === 'missing') throw new HotlineError('TRUST_INVALID', `${c.channel} v${c.version} carries no signature of ${other}'s authority: only a proposal ${other} signed can be countersigned`);
  if (status[other] === 'invalid') throw new HotlineError('TRUST_INVALID', `${other}'s signature on ${c.channel} v${c.version} does not verify: the file was altered or not signed by the key it names; do not sign it`);
  const proposer = c.authorities[other] as string;
  if (!sameFingerprint(fingerprint(proposer), proposerFingerprint)) {
    throw new HotlineError(
      'TRUST_INVALID',
      `the proposer's key has fingerprint ${fingerprint(proposer)}, not the ${proposerFingerprint.trim()} ${other}'s authority gave you: do not sign; call ${other}'s authority on a line you trust`,
    );
  }
  if (c.authorities[own] !== authority.identity.kid) {
    throw new HotlineError('TRUST_INVALID', `${c.channel} v${c.version} names another key as ${own}'s authority (fingerprint ${fingerprint(c.authorities[own] as string)}), not this one (${fingerprint(authority.identity.kid)})`);
  }
  if (held) {
    if (c.version <= held.charter.version) {
      const mine = charterHash(c) === charterHash(held.charter) && c.version === held.charter.version;
      if (mine) throw new HotlineError('CONFLICT', `${c.channel} v${c.version} is already signed by both authorities and on record`);
      throw new HotlineError('TRUST_FORK', `${c.channel} v${c.version} is not the version after v${held.charter.version}, which both authorities already signed: a proposal must extend it`);
    }
    checkCharterExtends(held.charter, c);
  } else if (c.version !== 1) {
    throw new HotlineError('NOT_FOUND', `${c.channel} v${c.version} amends v${c.version - 1}, and this authority holds no charter of ${c.channel} to check that against: sign only what extends a charter on record here`);
  }
  return verifyCharter(signCharter(doc, own, authority.identity), { [own]: authority.identity.kid });
}
